// The control plane's OIP endpoints when data-plane processes serve: requests under /v2/models/ and
// /environments/ are relayed as they are (method, path, headers, body stream) to a live process,
// which checks the token again and answers. Clients that must not notice a restart of `paved up`
// call a data-plane process's own URL instead (`paved up` prints it); this relay is for clients
// that know only the API's URL.
import { PlatformError, type PassthroughDefinition } from "../core/index.ts";
import { pipeRequest } from "../http/index.ts";

/** Relays every request under the OIP prefixes to one of the live processes `urls()` names (in turn). */
export function oipRelay(urls: () => string[]): PassthroughDefinition[] {
  let next = 0;
  const def = (prefix: string): PassthroughDefinition => ({
    prefix,
    summary: "OIP v2 inference and model metadata, relayed to a data-plane process",
    action: "serving:infer",
    async request({ request, url }, response) {
      const live = urls();
      if (live.length === 0) throw new PlatformError("UNAVAILABLE", "no data-plane process runs yet (it starts with the first model loaded); deploy a model, or retry in a few seconds");
      // The path is appended, never resolved: it always starts with the prefix, so no request names another host.
      const target = new URL(`${live[next++ % live.length]}${url}`);
      await pipeRequest(request, response, target).catch((error: NodeJS.ErrnoException) => {
        // A process that dies mid-request fails the request now, never hangs it.
        throw new PlatformError("UNAVAILABLE", `the data-plane process did not answer (${error.code ?? error.message}); retry`);
      });
    },
    async upgrade() {
      throw new PlatformError("NOT_FOUND", "the inference endpoints take no websockets");
    },
  });
  return [def("/v2/models/"), def("/environments/")];
}
