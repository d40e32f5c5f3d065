package arazzo

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-openapi/jsonpointer"
)

// Resolution errors.
var (
	ErrNotFound  = errors.New("not found")
	ErrAmbiguous = errors.New("ambiguous reference")
)

// maxSourceDepth bounds the nesting of arazzo-type source descriptions.
const maxSourceDepth = 8

// OpenAPISource is a loaded OpenAPI source description.
type OpenAPISource struct {
	Name string
	URL  string // resolved location
	Doc  *openapi3.T
	// ServerOverride replaces the document's servers when non-empty.
	ServerOverride string

	opsOnce sync.Once
	ops     map[string]*Operation // by operationId, built on first use
}

// Operation is an OpenAPI operation a step resolved to.
type Operation struct {
	Source *OpenAPISource
	// PathKey is the key under "paths", as written (it may carry a
	// "#fragment" suffix, as AWS-derived documents do).
	PathKey string
	// Path is PathKey without any fragment: the template sent on the wire.
	Path     string
	Method   string // upper case
	PathItem *openapi3.PathItem
	Op       *openapi3.Operation
}

// ID returns the operation's operationId, or "METHOD path".
func (o *Operation) ID() string {
	if o.Op.OperationID != "" {
		return o.Op.OperationID
	}
	return o.Method + " " + o.PathKey
}

// Bundle is an Arazzo document together with everything its source
// descriptions bring in, loaded recursively.
type Bundle struct {
	Root    *Document
	sources map[*Document]*docSources
}

type docSources struct {
	openapi map[string]*OpenAPISource
	arazzo  map[string]*Document
}

// LoadBundle loads the Arazzo document at location and its source
// descriptions. servers maps source description names (of the root
// document) to server URLs that replace the OpenAPI servers.
func (f *Fetcher) LoadBundle(ctx context.Context, location string, servers map[string]string) (*Bundle, error) {
	doc, err := f.Load(ctx, location)
	if err != nil {
		return nil, err
	}
	b := &Bundle{Root: doc, sources: map[*Document]*docSources{}}
	for name := range servers {
		if doc.Source(name) == nil {
			return nil, fmt.Errorf("--server %s: no source description named %q", name, name)
		}
	}
	seen := map[string]*Document{location: doc}
	oas := map[string]*openapi3.T{}
	if err := f.loadSources(ctx, b, doc, seen, oas, servers, 0); err != nil {
		return nil, err
	}
	return b, nil
}

func (f *Fetcher) loadSources(ctx context.Context, b *Bundle, doc *Document, seen map[string]*Document, oas map[string]*openapi3.T, servers map[string]string, depth int) error {
	if depth > maxSourceDepth {
		return fmt.Errorf("%s: arazzo source descriptions nested deeper than %d", doc.URL, maxSourceDepth)
	}
	ds := &docSources{openapi: map[string]*OpenAPISource{}, arazzo: map[string]*Document{}}
	b.sources[doc] = ds
	for _, sd := range doc.SourceDescriptions {
		loc, err := ResolveReference(doc.URL, sd.URL)
		if err != nil {
			return fmt.Errorf("source description %s: %w", sd.Name, err)
		}
		typ := sd.Type
		data, err := f.Read(ctx, loc)
		if err != nil {
			return fmt.Errorf("source description %s: %w", sd.Name, err)
		}
		if typ == "" {
			typ = sniffType(data)
		}
		switch typ {
		case SourceArazzo:
			sub, ok := seen[loc]
			if !ok {
				sub, err = Parse(data, loc)
				if err != nil {
					return fmt.Errorf("source description %s: %w", sd.Name, err)
				}
				seen[loc] = sub
				if err := f.loadSources(ctx, b, sub, seen, oas, nil, depth+1); err != nil {
					return err
				}
			}
			ds.arazzo[sd.Name] = sub
		case SourceOpenAPI:
			t, ok := oas[loc]
			if !ok {
				t, err = f.loadOpenAPI(ctx, data, loc)
				if err != nil {
					return fmt.Errorf("source description %s (%s): %w", sd.Name, loc, err)
				}
				oas[loc] = t
			}
			src := &OpenAPISource{Name: sd.Name, URL: loc, Doc: t}
			if depth == 0 {
				src.ServerOverride = servers[sd.Name]
			}
			ds.openapi[sd.Name] = src
		default:
			return fmt.Errorf("source description %s: unsupported type %q", sd.Name, typ)
		}
	}
	return nil
}

// sniffType guesses a source description's type when it is not given.
func sniffType(data []byte) string {
	head := string(data[:min(len(data), 4096)])
	if strings.Contains(head, "arazzo") && !strings.Contains(head, "openapi") {
		return SourceArazzo
	}
	return SourceOpenAPI
}

func (f *Fetcher) loadOpenAPI(ctx context.Context, data []byte, loc string) (*openapi3.T, error) {
	l := openapi3.NewLoader()
	l.Context = ctx
	l.IsExternalRefsAllowed = true
	l.ReadFromURIFunc = func(_ *openapi3.Loader, u *url.URL) ([]byte, error) {
		s := u.String()
		if u.Scheme == "" || u.Scheme == "file" {
			s = filepath.FromSlash(u.Path)
		}
		return f.Read(ctx, s)
	}
	var u *url.URL
	var err error
	if isHTTP(loc) {
		u, err = url.Parse(loc)
	} else {
		abs, aerr := filepath.Abs(loc)
		if aerr != nil {
			return nil, aerr
		}
		u = &url.URL{Path: filepath.ToSlash(abs)}
	}
	if err != nil {
		return nil, err
	}
	t, err := l.LoadFromDataWithPath(data, u)
	if err != nil {
		return nil, err
	}
	if t.OpenAPI == "" || !strings.HasPrefix(t.OpenAPI, "3.") {
		return nil, fmt.Errorf("not an OpenAPI 3.x document (openapi: %q)", t.OpenAPI)
	}
	return t, nil
}

// OpenAPISources returns the OpenAPI sources of doc, by name.
func (b *Bundle) OpenAPISources(doc *Document) map[string]*OpenAPISource {
	if ds := b.sources[doc]; ds != nil {
		return ds.openapi
	}
	return nil
}

// ArazzoSource returns the arazzo-type source named name of doc.
func (b *Bundle) ArazzoSource(doc *Document, name string) *Document {
	if ds := b.sources[doc]; ds != nil {
		return ds.arazzo[name]
	}
	return nil
}

const sdPrefix = "$sourceDescriptions."

// splitSourceRef splits "$sourceDescriptions.NAME.REF" into NAME and REF.
func splitSourceRef(s string) (name, ref string, ok bool) {
	if !strings.HasPrefix(s, sdPrefix) {
		return "", "", false
	}
	rest := s[len(sdPrefix):]
	i := strings.IndexByte(rest, '.')
	if i <= 0 || i == len(rest)-1 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

// ResolveOperationID finds the operation named by a step's operationId in
// doc's OpenAPI sources. A bare id that several sources define is an
// [ErrAmbiguous] error.
func (b *Bundle) ResolveOperationID(doc *Document, id string) (*Operation, error) {
	srcs := b.OpenAPISources(doc)
	if name, ref, ok := splitSourceRef(id); ok {
		src := srcs[name]
		if src == nil {
			return nil, fmt.Errorf("operationId %s: no openapi source description named %q: %w", id, name, ErrNotFound)
		}
		op := findOperationID(src, ref)
		if op == nil {
			return nil, fmt.Errorf("operationId %s: %q not found in %s: %w", id, ref, name, ErrNotFound)
		}
		return op, nil
	}
	var found []*Operation
	names := make([]string, 0, len(srcs))
	for n := range srcs {
		names = append(names, n)
	}
	sort.Strings(names)
	var where []string
	for _, n := range names {
		if op := findOperationID(srcs[n], id); op != nil {
			found = append(found, op)
			where = append(where, n)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("operationId %s: not found in any openapi source description: %w", id, ErrNotFound)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("operationId %s is defined in %s; write $sourceDescriptions.<name>.%s: %w", id, strings.Join(where, " and "), id, ErrAmbiguous)
}

var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// findOperationID returns the operation of src with operationId id, or
// nil. Should several share the id, the first in sorted path order, then
// method order, wins. The index is built once per source.
func findOperationID(src *OpenAPISource, id string) *Operation {
	src.opsOnce.Do(func() {
		src.ops = map[string]*Operation{}
		if src.Doc.Paths == nil {
			return
		}
		keys := src.Doc.Paths.InMatchingOrder()
		sort.Strings(keys)
		for _, k := range keys {
			item := src.Doc.Paths.Value(k)
			for _, m := range methods {
				op := item.GetOperation(strings.ToUpper(m))
				if op == nil || op.OperationID == "" {
					continue
				}
				if _, dup := src.ops[op.OperationID]; !dup {
					src.ops[op.OperationID] = newOperation(src, k, m, item, op)
				}
			}
		}
	})
	return src.ops[id]
}

func newOperation(src *OpenAPISource, key, method string, item *openapi3.PathItem, op *openapi3.Operation) *Operation {
	p := key
	if i := strings.IndexByte(p, '#'); i >= 0 {
		p = p[:i]
	}
	return &Operation{Source: src, PathKey: key, Path: p, Method: strings.ToUpper(method), PathItem: item, Op: op}
}

// ResolveOperationPath finds the operation named by an operationPath such
// as "{$sourceDescriptions.api.url}#/paths/~1pets~1{id}/get". A pointer to
// a path item with exactly one operation selects that operation.
func (b *Bundle) ResolveOperationPath(doc *Document, opPath string) (*Operation, error) {
	srcs := b.OpenAPISources(doc)
	hash := strings.IndexByte(opPath, '#')
	if hash < 0 {
		return nil, fmt.Errorf("operationPath %s: missing '#' and JSON pointer", opPath)
	}
	ref, ptr := opPath[:hash], opPath[hash+1:]
	var src *OpenAPISource
	if strings.HasPrefix(ref, "{"+sdPrefix) && strings.HasSuffix(ref, ".url}") {
		name := strings.TrimSuffix(strings.TrimPrefix(ref, "{"+sdPrefix), ".url}")
		src = srcs[name]
		if src == nil {
			return nil, fmt.Errorf("operationPath %s: no openapi source description named %q: %w", opPath, name, ErrNotFound)
		}
	} else {
		for _, sd := range doc.SourceDescriptions {
			if sd.URL == ref && srcs[sd.Name] != nil {
				src = srcs[sd.Name]
			}
		}
		if src == nil {
			return nil, fmt.Errorf("operationPath %s: %q names no openapi source description: %w", opPath, ref, ErrNotFound)
		}
	}
	p, err := jsonpointer.New(ptr)
	if err != nil {
		return nil, fmt.Errorf("operationPath %s: %w", opPath, err)
	}
	toks := p.DecodedTokens()
	if len(toks) < 2 || len(toks) > 3 || toks[0] != "paths" {
		return nil, fmt.Errorf("operationPath %s: pointer must be /paths/<path>/<method>", opPath)
	}
	item := src.Doc.Paths.Value(toks[1])
	if item == nil {
		return nil, fmt.Errorf("operationPath %s: path %q not found in %s: %w", opPath, toks[1], src.Name, ErrNotFound)
	}
	if len(toks) == 3 {
		op := item.GetOperation(strings.ToUpper(toks[2]))
		if op == nil {
			return nil, fmt.Errorf("operationPath %s: no %s operation at %q: %w", opPath, toks[2], toks[1], ErrNotFound)
		}
		return newOperation(src, toks[1], toks[2], item, op), nil
	}
	ops := item.Operations()
	if len(ops) != 1 {
		return nil, fmt.Errorf("operationPath %s: points at a path item with %d operations; add the method: %w", opPath, len(ops), ErrAmbiguous)
	}
	for m, op := range ops {
		return newOperation(src, toks[1], m, item, op), nil
	}
	return nil, nil
}

// ResolveWorkflow finds the workflow named by ref from doc: a local
// workflowId or "$sourceDescriptions.NAME.workflowId" for a workflow in an
// arazzo source. It returns the document that holds the workflow.
func (b *Bundle) ResolveWorkflow(doc *Document, ref string) (*Document, *Workflow, error) {
	if name, id, ok := splitSourceRef(ref); ok {
		sub := b.ArazzoSource(doc, name)
		if sub == nil {
			return nil, nil, fmt.Errorf("workflowId %s: no arazzo source description named %q: %w", ref, name, ErrNotFound)
		}
		w := sub.Workflow(id)
		if w == nil {
			return nil, nil, fmt.Errorf("workflowId %s: %q not found in %s: %w", ref, id, name, ErrNotFound)
		}
		return sub, w, nil
	}
	w := doc.Workflow(ref)
	if w == nil {
		return nil, nil, fmt.Errorf("workflowId %s: %w", ref, ErrNotFound)
	}
	return doc, w, nil
}

// ServerURL returns the base URL requests for op go to: the override given
// for its source, else the first server of the operation, path item or
// document, with server variables set to their defaults (or first enum
// value). A relative server URL resolves against an http(s) source URL.
func (op *Operation) ServerURL() (string, error) {
	if op.Source.ServerOverride != "" {
		return strings.TrimRight(op.Source.ServerOverride, "/"), nil
	}
	var servers openapi3.Servers
	switch {
	case op.Op.Servers != nil && len(*op.Op.Servers) > 0:
		servers = *op.Op.Servers
	case len(op.PathItem.Servers) > 0:
		servers = op.PathItem.Servers
	default:
		servers = op.Source.Doc.Servers
	}
	raw := "/"
	var vars openapi3.ServerVariables
	if len(servers) > 0 && servers[0] != nil {
		raw, vars = servers[0].URL, servers[0].Variables
	}
	for name, v := range vars {
		val := v.Default
		if val == "" && len(v.Enum) > 0 {
			val = v.Enum[0]
		}
		raw = strings.ReplaceAll(raw, "{"+name+"}", val)
	}
	if strings.Contains(raw, "{") {
		return "", fmt.Errorf("server URL %q has a variable with no value", raw)
	}
	if !isHTTP(raw) {
		if !isHTTP(op.Source.URL) {
			return "", fmt.Errorf("source %s has no absolute server URL (%q); give one with --server %s=URL", op.Source.Name, raw, op.Source.Name)
		}
		b, err := url.Parse(op.Source.URL)
		if err != nil {
			return "", err
		}
		r, err := url.Parse(raw)
		if err != nil {
			return "", err
		}
		raw = b.ResolveReference(r).String()
	}
	return strings.TrimRight(raw, "/"), nil
}
