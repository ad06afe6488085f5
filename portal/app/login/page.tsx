"use client";

import Link from "next/link";
import { useSearchParams } from "next/navigation";
import { Suspense, useState } from "react";

import { AuthCard } from "@/components/AuthCard";
import { Button, Field, FormError } from "@/components/ui";
import { api, unwrap } from "@/lib/api/client";
import { safeNext } from "@/lib/safeNext";
import { useSubmit } from "@/lib/useForm";

function LoginForm() {
  const params = useSearchParams();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [tenant, setTenant] = useState("");
  const { submit, busy, error, errorsFor } = useSubmit(async () => {
    await unwrap(api.POST("/api/v1/auth/login/", { body: { email, password, tenant } }));
    window.location.assign(safeNext(params.get("next")));
  });
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        submit();
      }}
      noValidate
    >
      <FormError error={error} shown={["email", "password", "tenant"]} />
      <Field label="Email" errors={errorsFor("email")}>
        {(props) => (
          <input {...props} type="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} required />
        )}
      </Field>
      <Field label="Password" errors={errorsFor("password")}>
        {(props) => (
          <input
            {...props}
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        )}
      </Field>
      <Field label="Workspace (optional)" help="The workspace slug, if you belong to more than one." errors={errorsFor("tenant")}>
        {(props) => <input {...props} type="text" value={tenant} onChange={(e) => setTenant(e.target.value)} />}
      </Field>
      <Button type="submit" variant="primary" busy={busy}>
        Log in
      </Button>
    </form>
  );
}

export default function LoginPage() {
  return (
    <AuthCard
      title="Log in"
      footer={
        <>
          <Link href="/signup">Create an account</Link>
          <Link href="/reset-password">Forgot your password?</Link>
        </>
      }
    >
      <Suspense>
        <LoginForm />
      </Suspense>
    </AuthCard>
  );
}
