"use client";

import Link from "next/link";
import { useSearchParams } from "next/navigation";
import { Suspense, useState } from "react";

import { AuthCard } from "@/components/AuthCard";
import { Button, Field, FormError } from "@/components/ui";
import { api, unwrap } from "@/lib/api/client";
import { useSubmit } from "@/lib/useForm";

function AcceptForm() {
  const token = useSearchParams().get("token") ?? "";
  const [form, setForm] = useState({ first_name: "", last_name: "", password: "" });
  const { submit, busy, error, errorsFor } = useSubmit(async () => {
    await unwrap(api.POST("/api/v1/auth/invitations/accept/", { body: { ...form, token } }));
    window.location.assign("/dashboard");
  });
  if (!token) {
    return <p className="alert alert-error">This page needs the link from your invitation email.</p>;
  }
  const set = (key: keyof typeof form) => (e: React.ChangeEvent<HTMLInputElement>) =>
    setForm((f) => ({ ...f, [key]: e.target.value }));
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        submit();
      }}
      noValidate
    >
      <FormError error={error} shown={["first_name", "last_name", "password"]} />
      <div className="grid-2">
        <Field label="First name" errors={errorsFor("first_name")}>
          {(props) => <input {...props} type="text" value={form.first_name} onChange={set("first_name")} />}
        </Field>
        <Field label="Last name" errors={errorsFor("last_name")}>
          {(props) => <input {...props} type="text" value={form.last_name} onChange={set("last_name")} />}
        </Field>
      </div>
      <Field
        label="Password"
        help="If you already have an account, enter its password; otherwise choose one."
        errors={errorsFor("password")}
      >
        {(props) => <input {...props} type="password" autoComplete="new-password" value={form.password} onChange={set("password")} />}
      </Field>
      <Button type="submit" variant="primary" busy={busy}>
        Join the workspace
      </Button>
    </form>
  );
}

export default function AcceptInvitePage() {
  return (
    <AuthCard title="Accept your invitation" footer={<Link href="/login">Log in instead</Link>}>
      <Suspense>
        <AcceptForm />
      </Suspense>
    </AuthCard>
  );
}
