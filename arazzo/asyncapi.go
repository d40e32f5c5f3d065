package arazzo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-openapi/jsonpointer"
	"github.com/openhealthimaging/ohi/arazzo/expr"
	"go.yaml.in/yaml/v3"
)

// SourceAsyncAPI is the type of an AsyncAPI source description (Arazzo
// 1.1).
const SourceAsyncAPI = "asyncapi"

// AsyncAPISource is a loaded AsyncAPI 2.x or 3.x source description. ohi
// parses it to check the steps that reference it; it does not execute
// AsyncAPI steps yet.
type AsyncAPISource struct {
	Name    string
	URL     string
	Version string
	// Raw is the document in the JSON data model.
	Raw map[string]any
	// Operations maps operationIds to their operation.
	Operations map[string]*AsyncOperation
}

// AsyncOperation is an AsyncAPI operation.
type AsyncOperation struct {
	ID string
	// Action is "send" or "receive" (AsyncAPI 3), or the AsyncAPI 2
	// publish/subscribe mapped to receive/send as seen by the application
	// that the description describes ("" when unknown).
	Action string
	// Channel is the channel's key under "channels".
	Channel string
}

func parseAsyncAPI(data []byte, loc string) (*AsyncAPISource, error) {
	var raw any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("not YAML or JSON: %v", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	m, ok := expr.Normalize(raw).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not an object")
	}
	v, _ := m["asyncapi"].(string)
	if !strings.HasPrefix(v, "2.") && !strings.HasPrefix(v, "3.") {
		return nil, fmt.Errorf("not an AsyncAPI 2.x or 3.x document (asyncapi: %q)", v)
	}
	a := &AsyncAPISource{URL: loc, Version: v, Raw: m, Operations: map[string]*AsyncOperation{}}
	chans, _ := m["channels"].(map[string]any)
	if strings.HasPrefix(v, "2.") {
		for _, name := range sortedKeys(chans) {
			ch, _ := chans[name].(map[string]any)
			for verb, action := range map[string]string{"publish": "receive", "subscribe": "send"} {
				op, _ := ch[verb].(map[string]any)
				if id, _ := op["operationId"].(string); id != "" {
					a.Operations[id] = &AsyncOperation{ID: id, Action: action, Channel: name}
				}
			}
		}
		return a, nil
	}
	ops, _ := m["operations"].(map[string]any)
	for _, id := range sortedKeys(ops) {
		op, _ := ops[id].(map[string]any)
		o := &AsyncOperation{ID: id}
		o.Action, _ = op["action"].(string)
		if ch, ok := op["channel"].(map[string]any); ok {
			ref, _ := ch["$ref"].(string)
			o.Channel = strings.TrimPrefix(ref, "#/channels/")
		}
		a.Operations[id] = o
	}
	return a, nil
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Channel reports whether the JSON pointer ptr ("/channels/<name>") names
// a channel of a.
func (a *AsyncAPISource) Channel(ptr string) bool {
	p, err := jsonpointer.New(ptr)
	if err != nil {
		return false
	}
	toks := p.DecodedTokens()
	if len(toks) != 2 || toks[0] != "channels" {
		return false
	}
	chans, _ := a.Raw["channels"].(map[string]any)
	_, ok := chans[toks[1]]
	return ok
}

// isSwagger2 reports whether data is a Swagger 2.0 document.
func isSwagger2(data []byte) bool {
	return sniffSwagger(data)
}

func sniffSwagger(data []byte) bool {
	head := data[:min(len(data), 4096)]
	for _, line := range bytes.Split(head, []byte("\n")) {
		l := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(line)), "{"))
		if strings.HasPrefix(l, "swagger:") || strings.HasPrefix(l, `"swagger"`) {
			return true
		}
		if strings.HasPrefix(l, "openapi:") || strings.HasPrefix(l, `"openapi"`) {
			return false
		}
	}
	return false
}

// convertSwagger2 converts a Swagger 2.0 document (YAML or JSON) to
// OpenAPI 3 with kin-openapi's converter.
func convertSwagger2(data []byte) (*openapi3.T, error) {
	var raw any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	js, err := json.Marshal(expr.Normalize(raw))
	if err != nil {
		return nil, err
	}
	var d2 openapi2.T
	if err := json.Unmarshal(js, &d2); err != nil {
		return nil, err
	}
	return openapi2conv.ToV3(&d2)
}
