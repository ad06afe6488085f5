"use client";

import { useState } from "react";
import useSWR from "swr";

import { PAGE_SIZE } from "@/components/settings/shared";
import {
  AsyncList,
  Badge,
  Button,
  Card,
  ConfirmButton,
  Dialog,
  EmptyState,
  Field,
  FormError,
  Table,
  Time,
} from "@/components/ui";
import { type Page, type Schemas, api, unwrap } from "@/lib/api/client";
import { useSession } from "@/lib/session";
import { useSubmit } from "@/lib/useForm";

type Provider = Schemas["LLMProvider"];
type Kind = Schemas["LLMProviderKindEnum"];
type TestResult = Schemas["ProviderTest"];

export const KINDS: { value: Kind; label: string; baseUrl: string; model: string; key: boolean }[] = [
  { value: "openai", label: "OpenAI", baseUrl: "Leave blank for the public endpoint.", model: "gpt-4o-mini", key: true },
  { value: "anthropic", label: "Anthropic", baseUrl: "Leave blank for the public endpoint.", model: "claude-3-5-haiku-latest", key: true },
  { value: "azure_openai", label: "Azure OpenAI", baseUrl: "Your resource's endpoint, e.g. https://name.openai.azure.com.", model: "your deployment name", key: true },
  { value: "ollama", label: "Ollama", baseUrl: "Where Ollama listens, e.g. http://ollama:11434.", model: "llama3.1", key: false },
  { value: "openai_compatible", label: "OpenAI-compatible", baseUrl: "The endpoint's base URL, ending in /v1.", model: "the model name", key: true },
];

type Form = {
  name: string;
  kind: Kind;
  base_url: string;
  api_version: string;
  default_model: string;
  api_key: string;
  remove_key: boolean;
};

function ProviderForm({ provider, onDone }: { provider: Provider | null; onDone: () => void }) {
  const [form, setForm] = useState<Form>({
    name: provider?.name ?? "",
    kind: provider?.kind ?? "openai",
    base_url: provider?.base_url ?? "",
    api_version: provider?.api_version ?? "",
    default_model: provider?.default_model ?? "",
    api_key: "", // never prefilled: the API does not return it
    remove_key: false,
  });
  const kind = KINDS.find((k) => k.value === form.kind) ?? KINDS[0];
  const { submit, busy, error, errorsFor } = useSubmit(async () => {
    const { remove_key, api_key, ...rest } = form;
    if (provider) {
      const body: Schemas["PatchedLLMProviderUpdateRequest"] = { ...rest };
      if (remove_key) body.api_key = "";
      else if (api_key) body.api_key = api_key; // blank: keep the stored key
      await unwrap(api.PATCH("/api/v1/llm-providers/{id}/", { params: { path: { id: String(provider.id) } }, body }));
    } else {
      await unwrap(api.POST("/api/v1/llm-providers/", { body: { ...rest, ...(api_key ? { api_key } : {}) } }));
    }
    onDone();
  });
  const set =
    (key: keyof Form) => (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>) =>
      setForm((f) => ({ ...f, [key]: e.target.value }));
  return (
    <form
      id="llm-provider-form"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
      noValidate
    >
      <FormError error={error} shown={["name", "kind", "base_url", "api_version", "default_model", "api_key"]} />
      <Field label="Name" errors={errorsFor("name")}>
        {(props) => <input {...props} type="text" value={form.name} onChange={set("name")} />}
      </Field>
      <Field label="Kind" errors={errorsFor("kind")}>
        {(props) => (
          <select {...props} value={form.kind} onChange={set("kind")}>
            {KINDS.map((k) => (
              <option key={k.value} value={k.value}>
                {k.label}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Base URL" help={kind.baseUrl} errors={errorsFor("base_url")}>
        {(props) => <input {...props} type="url" value={form.base_url} onChange={set("base_url")} />}
      </Field>
      {form.kind === "azure_openai" ? (
        <Field label="API version" help="e.g. 2024-10-21" errors={errorsFor("api_version")}>
          {(props) => <input {...props} type="text" value={form.api_version} onChange={set("api_version")} />}
        </Field>
      ) : null}
      <Field label="Default model" help={`e.g. ${kind.model}`} errors={errorsFor("default_model")}>
        {(props) => <input {...props} type="text" value={form.default_model} onChange={set("default_model")} />}
      </Field>
      <Field
        label="API key"
        help={
          provider?.api_key_set
            ? "A key is stored. Leave blank to keep it; type a new one to replace it."
            : kind.key
              ? "Stored encrypted; never shown again."
              : "Usually not needed for this kind."
        }
        errors={errorsFor("api_key")}
      >
        {(props) => (
          <input
            {...props}
            type="password"
            autoComplete="new-password"
            value={form.api_key}
            disabled={form.remove_key}
            placeholder={provider?.api_key_set ? "•••••••• (unchanged)" : ""}
            onChange={set("api_key")}
          />
        )}
      </Field>
      {provider?.api_key_set ? (
        <label className="checkbox">
          <input
            type="checkbox"
            checked={form.remove_key}
            onChange={(e) => setForm((f) => ({ ...f, remove_key: e.target.checked, api_key: "" }))}
          />
          Remove the stored key
        </label>
      ) : null}
      <div className="form-actions">
        <Button type="submit" variant="primary" busy={busy}>
          {provider ? "Save provider" : "Add provider"}
        </Button>
        <Button onClick={onDone}>Cancel</Button>
      </div>
    </form>
  );
}

function TestButton({ provider, onTested }: { provider: Provider; onTested: () => void }) {
  const [result, setResult] = useState<TestResult | null>(null);
  const { submit, busy, error } = useSubmit(async () => {
    setResult(null);
    const answer = await unwrap(api.POST("/api/v1/llm-providers/{id}/test/", { params: { path: { id: String(provider.id) } } }));
    setResult(answer);
    onTested();
  });
  return (
    <div className="stack-tight">
      <Button onClick={() => submit()} busy={busy} aria-label={`Test ${provider.name}`}>
        Test
      </Button>
      <div aria-live="polite" data-testid="provider-test-result">
        {result ? (
          result.ok ? (
            <span className="alert alert-ok">Works ({result.latency_ms} ms)</span>
          ) : (
            <span className="alert alert-error">Failed: {result.error}</span>
          )
        ) : null}
        <FormError error={error} />
      </div>
    </div>
  );
}

export function LLMProviders() {
  const { me, can } = useSession();
  const configure = can("agents", "configure");
  const [offset, setOffset] = useState(0);
  const [editing, setEditing] = useState<Provider | "new" | null>(null);
  const { data, error, mutate } = useSWR<Page<Provider>>(["llm-providers", me.tenant?.slug, offset], () =>
    unwrap(api.GET("/api/v1/llm-providers/", { params: { query: { limit: PAGE_SIZE, offset } } })),
  );
  const close = () => {
    setEditing(null);
    mutate();
  };
  return (
    <Card
      title="LLM providers"
      actions={
        configure ? (
          <Button variant="primary" onClick={() => setEditing("new")}>
            Add provider
          </Button>
        ) : null
      }
    >
      <p className="muted">The models your agents use. Keys are stored encrypted and never shown again.</p>
      <AsyncList
        query={{ data, error, mutate }}
        isEmpty={(page) => page.count === 0}
        empty={
          <EmptyState title="No LLM provider yet">
            {configure ? "Add one so that your agents can think." : "An admin adds the providers agents use."}
          </EmptyState>
        }
        pager={{ offset, limit: PAGE_SIZE, onChange: setOffset }}
      >
        {(page) => (
          <Table columns={["Name", "Kind", "Default model", "Key", "Last test", configure ? "Actions" : null]}>
            {page.results.map((p) => (
              <tr key={p.id} data-testid="provider-row">
                <td>
                  <div>{p.name}</div>
                  {p.base_url ? <div className="muted">{p.base_url}</div> : null}
                </td>
                <td>{p.kind_name}</td>
                <td>
                  <code>{p.default_model}</code>
                </td>
                <td>{p.api_key_set ? <Badge tone="ok">stored</Badge> : <Badge tone="muted">none</Badge>}</td>
                <td>
                  {p.last_tested_at ? (
                    <>
                      <Badge tone={p.last_test_ok ? "ok" : "bad"}>{p.last_test_ok ? "ok" : "failed"}</Badge>{" "}
                      <Time value={p.last_tested_at} />
                      {!p.last_test_ok && p.last_test_error ? <div className="muted">{p.last_test_error}</div> : null}
                    </>
                  ) : (
                    <span className="muted">never</span>
                  )}
                </td>
                {configure ? (
                  <td>
                    <div className="row">
                      <TestButton provider={p} onTested={() => mutate()} />
                      <Button onClick={() => setEditing(p)} aria-label={`Edit ${p.name}`}>
                        Edit
                      </Button>
                      <ConfirmButton
                        label="Delete"
                        title="Delete provider"
                        confirmLabel="Delete"
                        message={`Agents using ${p.name} will need another provider.`}
                        onConfirm={async () => {
                          await unwrap(
                            api.DELETE("/api/v1/llm-providers/{id}/", { params: { path: { id: String(p.id) } } }),
                          );
                          await mutate();
                        }}
                      />
                    </div>
                  </td>
                ) : null}
              </tr>
            ))}
          </Table>
        )}
      </AsyncList>
      <Dialog
        open={editing !== null}
        title={editing && editing !== "new" ? `Edit ${editing.name}` : "Add an LLM provider"}
        onClose={() => setEditing(null)}
      >
        {editing !== null ? (
          <ProviderForm key={editing === "new" ? "new" : editing.id} provider={editing === "new" ? null : editing} onDone={close} />
        ) : null}
      </Dialog>
    </Card>
  );
}
