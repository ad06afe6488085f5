"use client";

import Link from "next/link";
import { useSearchParams } from "next/navigation";
import { Suspense, useState } from "react";

import { AuthCard } from "@/components/AuthCard";
import { Button, Field, FormError } from "@/components/ui";
import { api, unwrap } from "@/lib/api/client";
import { useSubmit } from "@/lib/useForm";

function RequestForm() {
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState(false);
  const { submit, busy, error, errorsFor } = useSubmit(async () => {
    await unwrap(api.POST("/api/v1/auth/password/reset/", { body: { email } }));
    setSent(true);
  });
  if (sent) return <p className="alert alert-ok">If an account uses {email}, a link to choose a new password is on its way.</p>;
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        submit();
      }}
      noValidate
    >
      <FormError error={error} shown={["email"]} />
      <Field label="Email" errors={errorsFor("email")}>
        {(props) => <input {...props} type="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} />}
      </Field>
      <Button type="submit" variant="primary" busy={busy}>
        Send the link
      </Button>
    </form>
  );
}

function ConfirmForm({ uid, token }: { uid: string; token: string }) {
  const [password, setPassword] = useState("");
  const [done, setDone] = useState(false);
  const { submit, busy, error, errorsFor } = useSubmit(async () => {
    await unwrap(api.POST("/api/v1/auth/password/reset/confirm/", { body: { uid, token, new_password: password } }));
    setDone(true);
  });
  if (done)
    return (
      <p className="alert alert-ok">
        Your password is changed. <Link href="/login">Log in</Link>
      </p>
    );
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        submit();
      }}
      noValidate
    >
      <FormError error={error} shown={["new_password"]} />
      <Field label="New password" errors={errorsFor("new_password")}>
        {(props) => <input {...props} type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />}
      </Field>
      <Button type="submit" variant="primary" busy={busy}>
        Change password
      </Button>
    </form>
  );
}

function ResetPassword() {
  const params = useSearchParams();
  const uid = params.get("uid");
  const token = params.get("token");
  return uid && token ? <ConfirmForm uid={uid} token={token} /> : <RequestForm />;
}

export default function ResetPasswordPage() {
  return (
    <AuthCard title="Reset your password" footer={<Link href="/login">Back to log in</Link>}>
      <Suspense>
        <ResetPassword />
      </Suspense>
    </AuthCard>
  );
}
