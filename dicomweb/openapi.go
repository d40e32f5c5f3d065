package dicomweb

import (
	"encoding/json"
	"regexp"
	"strings"
)

// OpenAPIPath is where the server publishes OpenAPI().
const OpenAPIPath = "/dicomweb/openapi.json"

var pathParamRE = regexp.MustCompile(`\{([A-Za-z]+)\}`)

// paramDocs describes the path parameters.
var paramDocs = map[string]string{
	"datastoreId":       "The data store id.",
	"StudyInstanceUID":  "Study Instance UID (0020,000D).",
	"SeriesInstanceUID": "Series Instance UID (0020,000E).",
	"SOPInstanceUID":    "SOP Instance UID (0008,0018).",
	"frameList":         "Frame numbers, 1-based, comma separated, no duplicates (e.g. 1,3,2).",
	"bulkdataUriHash":   "The path of the value, as in the BulkDataURI of the metadata.",
}

// OpenAPI returns the OpenAPI 3.1 description of Routes, the same table
// that serves the requests.
func OpenAPI() []byte {
	errResp := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{
			"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
	}
	binary := map[string]any{"type": "string", "format": "binary"}
	paths := map[string]map[string]any{}
	for _, rt := range Routes {
		full := Prefix + rt.Path
		var params []any
		for _, m := range pathParamRE.FindAllStringSubmatch(full, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true,
				"description": paramDocs[m[1]], "schema": map[string]any{"type": "string"}})
		}
		for _, q := range rt.Query {
			p := map[string]any{"name": q.Name, "in": "query", "required": false, "description": q.Description,
				"schema": map[string]any{"type": "string"}}
			if q.Repeated {
				p["schema"] = map[string]any{"type": "array", "items": map[string]any{"type": "string"}}
				p["explode"] = true
			}
			params = append(params, p)
		}
		accept := map[string]any{"name": "Accept", "in": "header", "required": false,
			"description": "Media types accepted, with transfer-syntax parameters for retrieves.", "schema": map[string]any{"type": "string"}}
		params = append(params, accept)
		ok := map[string]any{}
		for _, mt := range rt.Produces {
			if mt == mtDICOMJSON {
				ok[mt] = map[string]any{"schema": map[string]any{"type": "array", "items": map[string]any{"$ref": "#/components/schemas/DICOMJSONDataset"}}}
				if rt.Service == "STOW-RS" {
					ok[mt] = map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/DICOMJSONDataset"}}
				}
				continue
			}
			ok[mt] = map[string]any{"schema": binary}
		}
		responses := map[string]any{
			"200": map[string]any{"description": "Success.", "content": ok},
			"400": errResp("The request is malformed (a parameter, an attribute, a frame list)."),
			"403": errResp("The SigV4 signature is missing or wrong."),
			"404": errResp("The data store, study, series, instance or frame does not exist."),
		}
		switch rt.Service {
		case "WADO-RS":
			responses["406"] = errResp("The requested media type or transfer syntax cannot be produced; retry with transfer-syntax=*.")
		case "STOW-RS":
			sr := map[string]any{"$ref": "#/components/schemas/DICOMJSONDataset"}
			responses["202"] = map[string]any{"description": "Some instances were stored, some failed (FailedSOPSequence).",
				"content": map[string]any{mtDICOMJSON: map[string]any{"schema": sr}}}
			responses["409"] = map[string]any{"description": "No instance was stored (FailedSOPSequence gives the reasons).",
				"content": map[string]any{mtDICOMJSON: map[string]any{"schema": sr}}}
			responses["413"] = errResp("The request is larger than 1 GB of DICOM data.")
			responses["415"] = errResp("The Content-Type is not application/dicom or multipart/related; type=\"application/dicom\".")
		}
		op := map[string]any{"operationId": rt.Name, "summary": rt.Summary, "tags": []string{rt.Service},
			"parameters": params, "responses": responses}
		if len(rt.Consumes) > 0 {
			content := map[string]any{}
			for _, mt := range rt.Consumes {
				content[mt] = map[string]any{"schema": binary}
			}
			op["requestBody"] = map[string]any{"required": true, "content": content}
		}
		if paths[full] == nil {
			paths[full] = map[string]any{}
		}
		paths[full][strings.ToLower(rt.Method)] = op
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "AWS HealthImaging DICOMweb as served by ohi",
			"version": "2023-07-19",
			"description": "STOW-RS, WADO-RS and QIDO-RS (DICOM PS3.18) on HealthImaging image sets, with AWS's paths. " +
				"Generated from ohi's dicomweb.Routes, the table that serves the requests. Primary image sets unless imageSetId is given.",
			"x-aws-signingName": "medical-imaging",
		},
		"servers":  []any{map[string]any{"url": "http://127.0.0.1:8080", "description": "ohi serve (AWS: https://dicom-medical-imaging.{region}.amazonaws.com)"}},
		"security": []any{map[string]any{"sigv4": []any{}}},
		"paths":    paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"sigv4": map[string]any{"type": "apiKey", "name": "Authorization", "in": "header",
				"x-amazon-apigateway-authtype": "awsSigv4"}},
			"schemas": map[string]any{
				"Error": map[string]any{"type": "object", "required": []string{"message"},
					"properties": map[string]any{"message": map[string]any{"type": "string"}}},
				"DICOMJSONDataset": map[string]any{"type": "object", "description": "A DICOM JSON dataset (PS3.18 F.2), keyed by 8-digit tags.",
					"additionalProperties": map[string]any{"type": "object", "required": []string{"vr"}, "properties": map[string]any{
						"vr": map[string]any{"type": "string"}, "Value": map[string]any{"type": "array"},
						"InlineBinary": map[string]any{"type": "string"}, "BulkDataURI": map[string]any{"type": "string"}}}},
			},
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}
