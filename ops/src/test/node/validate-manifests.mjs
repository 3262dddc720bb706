// Validates every object of the given multi-document YAML files against its schema, compiled from
// the Kubernetes OpenAPI document (kubernetes-models) or from the CRDs of prometheus-operator and
// KEDA. Prints one JSON line per object: {file, kind, name, ok, error}. An object whose
// apiVersion/kind has no schema here is an error, never skipped.
import { parseAllDocuments } from "yaml";
import { readFileSync } from "node:fs";

const crdPackages = {
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
  "keda.sh": "@kubernetes-models/keda",
};

function modulePath(apiVersion) {
  const slash = apiVersion.indexOf("/");
  if (slash < 0) return `kubernetes-models/${apiVersion}`;
  const group = apiVersion.slice(0, slash);
  const version = apiVersion.slice(slash + 1);
  const crd = crdPackages[group];
  return crd ? `${crd}/${group}/${version}` : `kubernetes-models/${group}/${version}`;
}

async function validate(object) {
  if (!object || typeof object.apiVersion !== "string" || typeof object.kind !== "string") {
    throw new Error("not a Kubernetes object: apiVersion and kind are required");
  }
  let models;
  try {
    models = await import(modulePath(object.apiVersion));
  } catch {
    throw new Error(`no schema for apiVersion ${object.apiVersion}`);
  }
  const Model = models[object.kind];
  if (typeof Model !== "function") throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  new Model(object).validate();
}

let failures = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (doc.errors.length > 0) {
      failures++;
      console.log(JSON.stringify({ file, kind: null, name: null, ok: false, error: doc.errors[0].message }));
      continue;
    }
    const object = doc.toJS();
    if (object === null) continue;
    const entry = { file, kind: object.kind ?? null, name: object.metadata?.name ?? null, ok: true, error: null };
    try {
      await validate(object);
    } catch (e) {
      failures++;
      entry.ok = false;
      entry.error = e.message;
    }
    console.log(JSON.stringify(entry));
  }
}
process.exit(failures === 0 ? 0 : 1);
