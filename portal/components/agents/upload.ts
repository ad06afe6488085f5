// A document upload with progress. fetch() cannot report upload progress, so this one call uses
// XMLHttpRequest, to the portal's own origin (the proxy adds the session; cookies go along).
import { ApiError } from "@/lib/api/errors";

import type { KnowledgeDocument } from "./types";

export function uploadDocument(
  { collection, file, title }: { collection: number; file: File; title?: string },
  onProgress: (fraction: number) => void,
): Promise<KnowledgeDocument> {
  const form = new FormData();
  form.append("collection", String(collection));
  form.append("file", file);
  if (title) form.append("title", title);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/knowledge/documents/");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
    };
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve(body as KnowledgeDocument);
      } else {
        reject(new ApiError(xhr.status, body));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, null));
    xhr.onabort = () => reject(new ApiError(0, { detail: "The upload was cancelled." }));
    xhr.send(form);
  });
}
