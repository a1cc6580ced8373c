// Package body is the one owner of a request body: it reads it into a pooled buffer, validates
// and inspects it, walks it, and edits it. It is the only package of the module that imports
// sjson or unsafe (imports_test.go checks it).
//
// A Request answers questions about the client's bytes lazily and remembers each answer for
// the request: the top-level facts (model, stream, duplicate keys, validity, metadata.user_id,
// the top-level parameters) are found when it is made, in the one validating pass; what the
// body holds below the top level (Nested: cache_control in messages, images, documents, tools,
// tool history) only when a caller asks, by one walk, at most once.
//
// history.go answers what the conversation holds that routing needs (thinking signatures
// from the end, the tools declared, the images of the last user turn) and removes thinking
// blocks, for the relay's thinking affinity and scenario rules.
//
// Nothing here unmarshals a body. The validator (index.go) and the walker (walk.go, scan.go)
// find where each value starts and ends with a small allocation-free scanner, which gjson's
// ForEach cannot do without unescaping every string it passes; the walker reads the few values
// it reports with gjson. Edits (edit.go) are made as sjson makes them, in one copy of the
// body, so every byte that is not edited is forwarded unchanged.
package body
