// The generated types follow docs/asyncapi.json (the document `roomful-meetings schema` prints).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { EndpointMethods, ENDPOINT_NAMES, EVENT_NAMES } from "../dist/index.js";
import { DEFAULT_ASYNCAPI, DEFAULT_OUTPUT, generate, methodName, tsType } from "../scripts/generate.mjs";

const doc = JSON.parse(readFileSync(DEFAULT_ASYNCAPI, "utf8"));

test("src/generated.ts is what the generator makes of docs/asyncapi.json (else: npm run generate)", () => {
  assert.equal(readFileSync(DEFAULT_OUTPUT, "utf8"), generate(doc), "stale: run `npm --prefix clients/js run generate`");
});

test("every endpoint and push of the document is known, with one method per endpoint", () => {
  const operations = Object.values(doc.operations);
  const messageName = (op) => doc.components.messages[op.messages[0].$ref.split("/").pop()].name;
  const sends = operations.filter((op) => op.action === "send").map(messageName);
  const receives = operations.filter((op) => op.action === "receive").map(messageName);
  assert.deepEqual([...ENDPOINT_NAMES].sort(), [...sends].sort());
  assert.deepEqual([...EVENT_NAMES].sort(), [...receives].sort());
  for (const endpoint of sends) assert.equal(typeof EndpointMethods.prototype[methodName(endpoint)], "function", endpoint);
});

test("a field another engineer adds to a request shows up in the generated types", () => {
  const changed = structuredClone(doc);
  changed.components.schemas.CreateMeeting.properties.recurrence = {
    anyOf: [{ type: "string", maxLength: 500 }, { type: "null" }],
    default: null,
    description: "RRULE",
  };
  const text = generate(changed);
  assert.match(text, /export interface CreateMeeting \{[^}]*\/\*\*\n   \* RRULE\n   \* Server limits: maxLength 500.\n   \*\/\n  recurrence\?: string \| null;/);
  assert.notEqual(text, generate(doc));
});

test("the JSON Schema msgspec emits for tuples, dicts, tagged unions and Any becomes TypeScript", () => {
  assert.equal(tsType({ type: "array", prefixItems: [{ type: "integer" }, { type: "string" }], items: false }), "[number, string]");
  assert.equal(tsType({ type: "object", additionalProperties: { type: "integer" } }), "Record<string, number>");
  assert.equal(tsType({ oneOf: [{ $ref: "#/components/schemas/A" }, { $ref: "#/components/schemas/B" }] }), "A | B");
  assert.equal(tsType({ type: "array", items: { anyOf: [{ type: "string" }, { type: "null" }] } }), "Array<string | null>");
  assert.equal(tsType({ default: null }), "unknown");
  assert.equal(tsType({ type: ["string", "null"] }), "string | null");
  assert.throws(() => tsType({ $ref: "#/elsewhere/X" }), /unsupported \$ref/);
});

test("two endpoints that would share a method name are refused", () => {
  const clash = structuredClone(doc);
  const [key] = Object.keys(clash.components.messages).filter((k) => k === "meeting.getMeeting.request");
  clash.components.messages[key].name = "admin:createMeeting";
  assert.throws(() => generate(clash), /would both be createMeeting\(\)/);
});
