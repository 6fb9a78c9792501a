// Validates Kubernetes objects (a JSON array in argv[2]) against the API schemas of a current
// Kubernetes release, with two maintained npm packages:
// - kubernetes-models (and @kubernetes-models/prometheus-operator for ServiceMonitor): the
//   OpenAPI schemas compiled to validators: types, required fields, enums, formats;
// - @kubernetes/client-node, the official client: its generated models list every field of
//   every type, which catches what the OpenAPI schemas let through, a misspelt field (what
//   kubeconform -strict does).
// Prints one line per object and exits 1 if any is invalid. Run from the folder whose
// node_modules holds the packages (tests/deploy/package.json pins them).
import { readFileSync } from "node:fs";
import * as clientModels from "@kubernetes/client-node/dist/gen/models/all.js";

const docs = JSON.parse(readFileSync(process.argv[2], "utf8"));

// "apps/v1" + "Deployment" -> the kubernetes-models module of that type.
function modelModule(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  if (group === "monitoring.coreos.com") {
    return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  }
  return `kubernetes-models/${group ? `${group}/` : ""}${version}/${kind}`;
}

const scalar = new Set(["string", "number", "boolean", "Date", "any", "object", "IntOrString"]);

// Fields of `value` that type `typeName` does not have, as JSON paths.
function unknownFields(value, typeName, path, out) {
  if (value === null || value === undefined || scalar.has(typeName)) return out;
  let m = typeName.match(/^Array<(.+)>$/);
  if (m) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, m[1], `${path}[${i}]`, out));
    return out;
  }
  m = typeName.match(/^\{ \[key: string\]: (.+); \}$/);
  if (m) {
    for (const [k, v] of Object.entries(value)) unknownFields(v, m[1], `${path}.${k}`, out);
    return out;
  }
  const model = clientModels[typeName];
  if (!model || typeof value !== "object") return out;
  const fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    if (!fields.has(k)) out.push(`${path}.${k}`);
    else unknownFields(v, fields.get(k), `${path}.${k}`, out);
  }
  return out;
}

let failed = 0;
for (const doc of docs) {
  const name = `${doc.kind}/${doc.metadata?.name}`;
  const problems = [];
  try {
    const module = await import(modelModule(doc.apiVersion, doc.kind));
    const Model = module[doc.kind];
    new Model(doc).validate();
  } catch (e) {
    problems.push(e.code === "ERR_MODULE_NOT_FOUND" ? `no schema for ${doc.apiVersion} ${doc.kind}`
                                                     : e.message);
  }
  const version = doc.apiVersion.split("/").pop();
  const typeName = `${version[0].toUpperCase()}${version.slice(1)}${doc.kind}`;
  let strict = "";
  if (clientModels[typeName]) {
    for (const field of unknownFields(doc, typeName, "", [])) {
      problems.push(`unknown field ${field.slice(1)}`);
    }
  } else {
    strict = " (no field list for this type: schema only)";
  }
  if (problems.length) {
    failed++;
    console.log(`INVALID ${name}: ${problems.join("; ")}`);
  } else {
    console.log(`valid ${doc.apiVersion} ${name}${strict}`);
  }
}
process.exit(failed ? 1 : 0);
