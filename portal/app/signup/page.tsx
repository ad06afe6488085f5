"use client";

import Link from "next/link";
import { useState } from "react";

import { AuthCard } from "@/components/AuthCard";
import { Button, Field, FormError } from "@/components/ui";
import { api, unwrap } from "@/lib/api/client";
import { useSubmit } from "@/lib/useForm";

function slugify(name: string) {
  return name
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 48);
}

export default function SignupPage() {
  const [form, setForm] = useState({ first_name: "", last_name: "", email: "", password: "", tenant_name: "", tenant_slug: "" });
  const [slugTouched, setSlugTouched] = useState(false);
  const set = (key: keyof typeof form) => (e: React.ChangeEvent<HTMLInputElement>) => {
    const value = e.target.value;
    setForm((f) => ({ ...f, [key]: value, ...(key === "tenant_name" && !slugTouched ? { tenant_slug: slugify(value) } : {}) }));
  };
  const { submit, busy, error, errorsFor } = useSubmit(async () => {
    await unwrap(api.POST("/api/v1/auth/register/", { body: form }));
    window.location.assign("/dashboard");
  });
  return (
    <AuthCard title="Create your workspace" footer={<Link href="/login">I already have an account</Link>}>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          submit();
        }}
        noValidate
      >
        <FormError error={error} shown={Object.keys(form)} />
        <div className="grid-2">
          <Field label="First name" errors={errorsFor("first_name")}>
            {(props) => <input {...props} type="text" autoComplete="given-name" value={form.first_name} onChange={set("first_name")} />}
          </Field>
          <Field label="Last name" errors={errorsFor("last_name")}>
            {(props) => <input {...props} type="text" autoComplete="family-name" value={form.last_name} onChange={set("last_name")} />}
          </Field>
        </div>
        <Field label="Email" errors={errorsFor("email")}>
          {(props) => <input {...props} type="email" autoComplete="email" value={form.email} onChange={set("email")} />}
        </Field>
        <Field label="Password" help="At least 10 characters, not a common password." errors={errorsFor("password")}>
          {(props) => <input {...props} type="password" autoComplete="new-password" value={form.password} onChange={set("password")} />}
        </Field>
        <Field label="Business name" errors={errorsFor("tenant_name")}>
          {(props) => <input {...props} type="text" value={form.tenant_name} onChange={set("tenant_name")} />}
        </Field>
        <Field label="Workspace address" help="Lowercase letters, digits and dashes." errors={errorsFor("tenant_slug")}>
          {(props) => (
            <input
              {...props}
              type="text"
              value={form.tenant_slug}
              onChange={(e) => {
                setSlugTouched(true);
                set("tenant_slug")(e);
              }}
            />
          )}
        </Field>
        <Button type="submit" variant="primary" busy={busy}>
          Create workspace
        </Button>
      </form>
    </AuthCard>
  );
}
