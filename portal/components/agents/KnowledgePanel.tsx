"use client";

import { useEffect, useRef, useState } from "react";
import useSWR, { useSWRConfig } from "swr";

import { Async, AsyncList, Badge, Button, ConfirmButton, EmptyState, Field, FormError, Table, Time } from "@/components/ui";
import { api, unwrap } from "@/lib/api/client";
import { useSubmit } from "@/lib/useForm";

import { ACTIVE_DOCUMENT, type Agent, type Collection, type KnowledgeDocument, type SearchHit, rows } from "./types";
import { uploadDocument } from "./upload";

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function useCollections() {
  return useSWR("knowledge:collections", async () =>
    rows<Collection>(await unwrap(api.GET("/api/v1/knowledge/collections/", { params: { query: { limit: 100 } } }))),
  );
}

/** A small form creating a knowledge collection. */
export function CollectionCreate({ onCreated }: { onCreated: (collection: Collection) => void }) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const { submit, busy, error, errorsFor } = useSubmit(async () => {
    const created = await unwrap(api.POST("/api/v1/knowledge/collections/", { body: { name, description } }));
    setName("");
    setDescription("");
    onCreated(created as Collection);
  });
  return (
    <form
      aria-label="New collection"
      className="agent-inline-form"
      onSubmit={(event) => {
        event.preventDefault();
        submit();
      }}
      noValidate
    >
      <FormError error={error} shown={["name", "description"]} />
      <div className="grid-2 agent-grid">
        <Field label="Collection name" errors={errorsFor("name")}>
          {(props) => <input {...props} type="text" value={name} onChange={(e) => setName(e.target.value)} />}
        </Field>
        <Field label="Description (optional)" errors={errorsFor("description")}>
          {(props) => (
            <input {...props} type="text" value={description} onChange={(e) => setDescription(e.target.value)} />
          )}
        </Field>
      </div>
      <Button type="submit" busy={busy} disabled={!name.trim()}>
        Create collection
      </Button>
    </form>
  );
}

function DocumentRow({
  document,
  canManage,
  onDelete,
}: {
  document: KnowledgeDocument;
  canManage: boolean;
  onDelete: () => Promise<unknown>;
}) {
  const active = ACTIVE_DOCUMENT.has(document.status);
  return (
    <tr data-testid={`document-${document.id}`}>
      <td>
        <strong>{document.title}</strong>
        <div className="muted">
          {document.filename} · {size(document.size)}
        </div>
      </td>
      <td>
        <Badge>{document.status}</Badge>
        {active && document.pages_total ? (
          <div className="muted">
            page {document.pages_done} of {document.pages_total}
          </div>
        ) : null}
        {document.status === "failed" && document.error ? (
          <div className="field-error" data-testid="document-error">
            {document.error}
          </div>
        ) : null}
      </td>
      <td data-testid="document-chunks">{document.status === "ready" ? `${document.chunks_count} ${document.chunks_count === 1 ? "chunk" : "chunks"}` : "—"}</td>
      <td>
        <Time value={document.created_at} />
      </td>
      <td>
        {canManage ? (
          <ConfirmButton
            label="Delete"
            title="Delete document"
            message={`Delete “${document.title}” and its ${document.chunks_count} chunks? Agents will no longer find it.`}
            onConfirm={onDelete}
          />
        ) : null}
      </td>
    </tr>
  );
}

function Documents({ collection, canManage }: { collection: Collection; canManage: boolean }) {
  const key = `knowledge:documents:${collection.id}`;
  const { data, error, mutate } = useSWR(
    key,
    async () =>
      rows<KnowledgeDocument>(
        await unwrap(
          api.GET("/api/v1/knowledge/documents/", { params: { query: { collection: collection.id, limit: 100 } } }),
        ),
      ),
    // ingestion runs in the background: follow it while a document is pending or processing
    { refreshInterval: (latest) => (latest?.some((d) => ACTIVE_DOCUMENT.has(d.status)) ? 1000 : 0) },
  );
  const { mutate: refresh } = useSWRConfig();
  const [file, setFile] = useState<File | null>(null);
  const [title, setTitle] = useState("");
  const [progress, setProgress] = useState<number | null>(null);
  const input = useRef<HTMLInputElement>(null);
  const { submit, busy, error: uploadError, errorsFor } = useSubmit(async () => {
    if (!file) return;
    setProgress(0);
    let created: KnowledgeDocument;
    try {
      created = await uploadDocument({ collection: collection.id, file, title: title.trim() }, setProgress);
    } catch (err) {
      setProgress(null);
      throw err;
    }
    // the bar stays at 100% until the next upload; ingestion shows in the document's row
    await mutate((current) => [created, ...(current ?? []).filter((d) => d.id !== created.id)], { revalidate: true });
    await refresh("knowledge:collections");
    setFile(null);
    setTitle("");
    if (input.current) input.current.value = "";
  });

  return (
    <div className="stack">
      {canManage ? (
        <form
          aria-label="Upload a document"
          onSubmit={(event) => {
            event.preventDefault();
            submit();
          }}
          noValidate
        >
          <FormError error={uploadError} shown={["file", "title", "collection"]} />
          <div className="grid-2 agent-grid">
            <Field
              label="Document"
              help="PDF, DOCX, Markdown or plain text. The type is read from the content."
              errors={[...errorsFor("file"), ...errorsFor("collection")]}
            >
              {(props) => (
                <input
                  {...props}
                  ref={input}
                  type="file"
                  accept=".pdf,.docx,.md,.markdown,.txt,application/pdf,text/plain,text/markdown"
                  onChange={(e) => setFile(e.target.files?.[0] ?? null)}
                />
              )}
            </Field>
            <Field label="Title (optional)" errors={errorsFor("title")}>
              {(props) => <input {...props} type="text" value={title} onChange={(e) => setTitle(e.target.value)} />}
            </Field>
          </div>
          <div className="row">
            <Button type="submit" variant="primary" busy={busy} disabled={!file}>
              Upload
            </Button>
            {progress !== null ? (
              <label className="row agent-progress">
                <span>{busy ? "Uploading" : "Uploaded"}</span>
                <progress max={1} value={progress} aria-label="Upload progress" data-testid="upload-progress" />
                <span data-testid="upload-percent">{Math.round(progress * 100)}%</span>
              </label>
            ) : null}
          </div>
        </form>
      ) : null}
      <AsyncList
        query={{ data, error, mutate }}
        empty={
          <EmptyState title="No documents in this collection">
            {canManage ? "Upload a brand-voice guide, a price list or a FAQ above." : "A member can upload documents."}
          </EmptyState>
        }
      >
        {(list) => (
          <Table
            caption={`Documents of ${collection.name}`}
            columns={["Document", "Status", "Chunks", "Uploaded", <span className="visually-hidden">Actions</span>]}
          >
            {list.map((doc) => (
              <DocumentRow
                key={doc.id}
                document={doc}
                canManage={canManage}
                onDelete={async () => {
                  await unwrap(api.DELETE("/api/v1/knowledge/documents/{id}/", { params: { path: { id: String(doc.id) } } }));
                  await mutate();
                  await refresh("knowledge:collections");
                }}
              />
            ))}
          </Table>
        )}
      </AsyncList>
    </div>
  );
}

function Search({ collections }: { collections: number[] }) {
  const [q, setQ] = useState("");
  const [hits, setHits] = useState<SearchHit[] | null>(null);
  const { submit, busy, error, errorsFor } = useSubmit(async () => {
    const query: Record<string, string | number> = { q, limit: 8 };
    if (collections.length) query.collection = collections.join(",");
    const result = await unwrap(
      api.GET("/api/v1/knowledge/search/", { params: { query: query as { q: string } } }),
    );
    setHits(((result as { results?: SearchHit[] }).results ?? []) as SearchHit[]);
  });
  return (
    <div className="stack">
      <form
        role="search"
        aria-label="Try the knowledge search"
        onSubmit={(event) => {
          event.preventDefault();
          submit();
        }}
        noValidate
      >
        <FormError error={error} shown={["q"]} />
        <Field
          label="Search the knowledge"
          help={collections.length ? "In the collections this agent may search." : "In all of this workspace's documents."}
          errors={errorsFor("q")}
        >
          {(props) => (
            <div className="row">
              <input {...props} type="search" value={q} onChange={(e) => setQ(e.target.value)} className="agent-grow" />
              <Button type="submit" busy={busy} disabled={!q.trim()}>
                Search
              </Button>
            </div>
          )}
        </Field>
      </form>
      {hits === null ? null : hits.length === 0 ? (
        <p className="muted">No passage matches.</p>
      ) : (
        <ol className="agent-hits" aria-label="Search results">
          {hits.map((hit) => (
            <li key={hit.chunk_id}>
              <div className="spread">
                <strong>
                  {hit.document_title}
                  {hit.page ? `, page ${hit.page}` : ""}
                </strong>
                <span className="muted">score {hit.score.toFixed(3)}</span>
              </div>
              <p>{hit.excerpt}</p>
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}

/** The collections an agent may search, their documents (upload with progress, ingestion status, delete) and a
 * search box to try what the agent would find. */
export function KnowledgePanel({
  agent,
  canAttach,
  canManage,
  onAttach,
}: {
  agent: Agent;
  canAttach: boolean;
  canManage: boolean;
  onAttach: (ids: number[]) => Promise<Agent>;
}) {
  const { data: collections, error, mutate } = useCollections();
  const attachedIds = agent.collections.map((c) => c.id);
  const [attached, setAttached] = useState<number[]>(attachedIds);
  const [current, setCurrent] = useState<number | null>(null);
  const [justSaved, setJustSaved] = useState(false);
  const attachedKey = attachedIds.join(",");
  useEffect(() => {
    setAttached(attachedKey ? attachedKey.split(",").map(Number) : []);
  }, [attachedKey]);
  const dirty = [...attached].sort().join(",") !== [...attachedIds].sort().join(",");
  const attach = useSubmit(async () => {
    await onAttach(attached);
    setJustSaved(true);
  });
  const selected = collections?.find((c) => c.id === current) ?? collections?.find((c) => attached.includes(c.id)) ?? collections?.[0];

  return (
    <div className="stack">
      <Async
        data={collections}
        error={error}
        retry={() => mutate()}
        isEmpty={(list) => list.length === 0}
        empty={
          <EmptyState title="No knowledge collections yet">
            A collection groups documents (brand voice, price lists, FAQs) an agent may search while it works.
            {canManage ? " Create one below." : " A member can create one."}
          </EmptyState>
        }
      >
        {(list) => (
          <form
            aria-label="Collections this agent may search"
            onSubmit={(event) => {
              event.preventDefault();
              if (dirty) attach.submit();
            }}
          >
            <FormError error={attach.error} shown={[]} />
            <fieldset disabled={!canAttach}>
              <legend>Collections this agent may search</legend>
              {list.map((c) => (
                <label key={c.id} className="checkbox">
                  <input
                    type="checkbox"
                    checked={attached.includes(c.id)}
                    onChange={(e) => {
                      setJustSaved(false);
                      setAttached((ids) => (e.target.checked ? [...ids, c.id] : ids.filter((id) => id !== c.id)));
                    }}
                  />
                  {c.name} <span className="muted">({c.documents_count} {c.documents_count === 1 ? "document" : "documents"})</span>
                </label>
              ))}
              {attach.errorsFor("collections", true).length ? (
                <p className="field-error" role="alert">
                  {attach.errorsFor("collections", true).join(" ")}
                </p>
              ) : null}
            </fieldset>
            {canAttach ? (
              <Button type="submit" busy={attach.busy} disabled={!dirty}>
                {justSaved && !dirty ? "Collections saved" : "Save collections"}
              </Button>
            ) : null}
          </form>
        )}
      </Async>
      {canManage ? (
        <details className="agent-details">
          <summary>New collection</summary>
          <CollectionCreate
            onCreated={async (created) => {
              await mutate();
              setCurrent(created.id);
            }}
          />
        </details>
      ) : null}
      {collections && collections.length && selected ? (
        <section aria-label="Documents" className="stack">
          <div className="spread">
            <h3>Documents</h3>
            <label className="row">
              <span>Collection</span>
              <select value={selected.id} onChange={(e) => setCurrent(Number(e.target.value))} aria-label="Collection">
                {collections.map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name}
                  </option>
                ))}
              </select>
            </label>
          </div>
          <Documents key={selected.id} collection={selected} canManage={canManage} />
        </section>
      ) : null}
      <Search collections={attachedIds} />
    </div>
  );
}
