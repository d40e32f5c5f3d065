package api

import _ "embed"

// OpenAPIJSON is an OpenAPI 3.1 description of every operation the server
// implements, generated from the same model as the routes (served at
// /openapi.json).
//
//go:embed openapi.json
var OpenAPIJSON []byte
