package arazzo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/openhealthimaging/ohi/arazzo/expr"
	"go.yaml.in/yaml/v3"
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
	partial bool
}

type docSources struct {
	openapi  map[string]*OpenAPISource
	asyncapi map[string]*AsyncAPISource
	arazzo   map[string]*Document
	// failed holds the sources that could not be loaded (partial loads
	// only), by name.
	failed map[string]error
	// notes are loading deviations worth a warning (converted Swagger 2.0
	// documents, guessed types).
	notes []SourceNote
}

// SourceNote is a remark about how a source description was loaded.
type SourceNote struct {
	Name string
	Msg  string
	// Hint says how to remove the deviation.
	Hint string
}

// LoadBundle loads the Arazzo document at location and its source
// descriptions. servers maps source description names (of the root
// document) to server URLs that replace the OpenAPI servers.
func (f *Fetcher) LoadBundle(ctx context.Context, location string, servers map[string]string) (*Bundle, error) {
	return f.loadBundle(ctx, location, servers, false)
}

// LoadBundlePartial is [Fetcher.LoadBundle] that goes on when a source
// description cannot be loaded: the failure is recorded (see
// [Bundle.SourceError]) and references into that source are not checked.
// Only a document that cannot be read or parsed is an error.
func (f *Fetcher) LoadBundlePartial(ctx context.Context, location string) (*Bundle, error) {
	return f.loadBundle(ctx, location, nil, true)
}

func (f *Fetcher) loadBundle(ctx context.Context, location string, servers map[string]string, partial bool) (*Bundle, error) {
	f = f.scoped(location)
	doc, err := f.Load(ctx, location)
	if err != nil {
		return nil, err
	}
	b := &Bundle{Root: doc, sources: map[*Document]*docSources{}, partial: partial}
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
	ds := &docSources{openapi: map[string]*OpenAPISource{}, asyncapi: map[string]*AsyncAPISource{},
		arazzo: map[string]*Document{}, failed: map[string]error{}}
	b.sources[doc] = ds
	for _, sd := range doc.SourceDescriptions {
		if err := f.loadSource(ctx, b, doc, ds, sd, seen, oas, servers, depth); err != nil {
			if !b.partial {
				return err
			}
			ds.failed[sd.Name] = err
		}
	}
	return nil
}

func (f *Fetcher) loadSource(ctx context.Context, b *Bundle, doc *Document, ds *docSources, sd SourceDescription,
	seen map[string]*Document, oas map[string]*openapi3.T, servers map[string]string, depth int) error {
	loc, err := ResolveReference(doc.BaseURI(), sd.URL)
	if err != nil {
		return fmt.Errorf("source description %s: %w", sd.Name, err)
	}
	if sub := identified(seen, sd.URL); sub != nil {
		// Identity-based referencing: an absolute URL that a loaded
		// document claims as its $self.
		ds.arazzo[sd.Name] = sub
		return nil
	}
	data, err := f.Read(ctx, loc)
	if err != nil {
		return fmt.Errorf("source description %s: %w", sd.Name, err)
	}
	typ, sniffed := sd.Type, sniffType(data)
	if typ == "" {
		typ = sniffed
	} else if sniffed != typ && sniffed != "" {
		ds.notes = append(ds.notes, SourceNote{Name: sd.Name,
			Msg:  fmt.Sprintf("source description %s is declared type %q but holds an %s document; it is read as %s", sd.Name, typ, sniffed, sniffed),
			Hint: fmt.Sprintf("write type: %s", sniffed)})
		typ = sniffed
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
	case SourceAsyncAPI:
		a, err := parseAsyncAPI(data, loc)
		if err != nil {
			return fmt.Errorf("source description %s (%s): %w", sd.Name, loc, err)
		}
		a.Name = sd.Name
		ds.asyncapi[sd.Name] = a
	case SourceOpenAPI:
		t, ok := oas[loc]
		if !ok {
			var note string
			t, note, err = f.loadOpenAPI(ctx, data, loc)
			if err != nil {
				return fmt.Errorf("source description %s (%s): %w", sd.Name, loc, err)
			}
			if note != "" {
				hint := "fix the malformed parts of the description"
				if strings.Contains(note, "Swagger") {
					hint = "convert the description to OpenAPI 3"
				}
				ds.notes = append(ds.notes, SourceNote{Name: sd.Name, Msg: fmt.Sprintf("source description %s: %s", sd.Name, note), Hint: hint})
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
	return nil
}

// identified returns the loaded Arazzo document whose $self is ref, when
// ref is an absolute URL.
func identified(seen map[string]*Document, ref string) *Document {
	if !isHTTP(ref) && !strings.HasPrefix(ref, "urn:") {
		return nil
	}
	for _, d := range seen {
		if d.Self != "" && d.Self == ref {
			return d
		}
	}
	return nil
}

// sniffType tells a source's type from its top-level field: "openapi",
// "swagger" (read as openapi), "asyncapi" or "arazzo"; "" when none is
// found in the first 4 KiB.
func sniffType(data []byte) string {
	head := data[:min(len(data), 4096)]
	for _, line := range strings.Split(string(head), "\n") {
		l := strings.TrimSpace(line)
		l = strings.TrimPrefix(l, "{")
		l = strings.TrimSpace(l)
		for _, k := range []string{"openapi", "swagger", "asyncapi", "arazzo"} {
			if strings.HasPrefix(l, k+":") || strings.HasPrefix(l, `"`+k+`"`) {
				if k == "swagger" {
					return SourceOpenAPI
				}
				return k
			}
		}
	}
	return ""
}

// loadOpenAPI loads an OpenAPI 3.x document, or converts a Swagger 2.0 one
// (then note says so).
func (f *Fetcher) loadOpenAPI(ctx context.Context, data []byte, loc string) (t *openapi3.T, note string, err error) {
	if isSwagger2(data) {
		t, err := convertSwagger2(data)
		if err != nil {
			return nil, "", fmt.Errorf("Swagger 2.0 document: %w", err)
		}
		return t, "a Swagger 2.0 (OpenAPI 2.0) description, converted to OpenAPI 3", nil
	}
	t, err = f.loadOpenAPI3(ctx, data, loc)
	if err == nil {
		return t, "", nil
	}
	// A description with a malformed part that a workflow may not use:
	// keep the path items that load on their own.
	t, dropped, perr := f.loadPathItems(ctx, data, loc)
	if perr != nil || t == nil {
		return nil, "", err
	}
	return t, fmt.Sprintf("parts of the description are malformed (%v); left out: %s", err, strings.Join(dropped, ", ")), nil
}

// maxPrunedPaths bounds the per-path-item loads of a malformed description.
const maxPrunedPaths = 2000

// loadPathItems loads a description whose whole does not load, one path
// item at a time (each with the document's other sections), and returns
// the document of the path items that load, and the keys of those that
// do not. Components are dropped only when even an empty paths object
// does not load with them.
func (f *Fetcher) loadPathItems(ctx context.Context, data []byte, loc string) (*openapi3.T, []string, error) {
	var raw any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, nil, err
	}
	m, ok := expr.Normalize(raw).(map[string]any)
	if !ok {
		return nil, nil, errors.New("not an object")
	}
	paths, _ := m["paths"].(map[string]any)
	if len(paths) > maxPrunedPaths {
		return nil, nil, fmt.Errorf("%d paths: too many to load one by one", len(paths))
	}
	load := func(doc map[string]any) (*openapi3.T, error) {
		b, err := json.Marshal(doc)
		if err != nil {
			return nil, err
		}
		return f.loadOpenAPI3(ctx, b, loc)
	}
	base := map[string]any{}
	for k, v := range m {
		base[k] = v
	}
	var dropped []string
	base["paths"] = map[string]any{}
	if _, err := load(base); err != nil {
		delete(base, "components")
		dropped = append(dropped, "components")
		if _, err := load(base); err != nil {
			return nil, nil, err
		}
	}
	kept := map[string]any{}
	for _, k := range sortedKeys(paths) {
		base["paths"] = map[string]any{k: paths[k]}
		if _, err := load(base); err != nil {
			dropped = append(dropped, "paths."+k)
			continue
		}
		kept[k] = paths[k]
	}
	base["paths"] = kept
	t, err := load(base)
	return t, dropped, err
}

func (f *Fetcher) loadOpenAPI3(ctx context.Context, data []byte, loc string) (*openapi3.T, error) {
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
// Documents returns the Arazzo documents of the bundle: the root first,
// then the arazzo sources it loaded, in no particular order.
func (b *Bundle) Documents() []*Document {
	out := []*Document{b.Root}
	for d := range b.sources {
		if d != b.Root {
			out = append(out, d)
		}
	}
	return out
}

// SourceError returns why doc's source description name could not be
// loaded (in a partial bundle), or nil.
func (b *Bundle) SourceError(doc *Document, name string) error {
	if sd := doc.Source(name); sd != nil {
		name = sd.Name
	}
	if ds := b.sources[doc]; ds != nil {
		return ds.failed[name]
	}
	return nil
}

// SourceNotes returns the loading remarks of doc's sources.
func (b *Bundle) SourceNotes(doc *Document) []SourceNote {
	if ds := b.sources[doc]; ds != nil {
		return ds.notes
	}
	return nil
}

// AsyncAPISources returns the AsyncAPI sources of doc, by name.
func (b *Bundle) AsyncAPISources(doc *Document) map[string]*AsyncAPISource {
	if ds := b.sources[doc]; ds != nil {
		return ds.asyncapi
	}
	return nil
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
	if sd := doc.Source(name); sd != nil {
		name = sd.Name
	}
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
//
// Two deviations that other runners accept are read too: an operationPath
// written as operationId ("$sourceDescriptions.NAME#/paths/..."), and
// "NAME.operationId" for an id no source defines as written.
func (b *Bundle) ResolveOperationID(doc *Document, id string) (*Operation, error) {
	srcs := b.OpenAPISources(doc)
	if strings.HasPrefix(id, sdPrefix) && strings.Contains(id, "#") {
		name, ptr, _ := strings.Cut(id[len(sdPrefix):], "#")
		return b.ResolveOperationPath(doc, "{"+sdPrefix+name+".url}#"+ptr)
	}
	if name, ref, ok := splitSourceRef(id); ok {
		if sd := doc.Source(name); sd != nil {
			name = sd.Name
		}
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
		if name, ref, ok := strings.Cut(id, "."); ok && srcs[name] != nil {
			if op := findOperationID(srcs[name], ref); op != nil {
				return op, nil
			}
		}
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
	if op := src.ops[id]; op != nil {
		return op
	}
	// A unique case-insensitive match (validation reports it).
	var fold *Operation
	for k, op := range src.ops {
		if strings.EqualFold(k, id) {
			if fold != nil {
				return nil
			}
			fold = op
		}
	}
	return fold
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
	if name, ok := strings.CutPrefix(ref, sdPrefix); ok && !strings.Contains(name, ".") {
		// $sourceDescriptions.NAME#/paths/...: read like {...url}.
		ref = "{" + sdPrefix + name + ".url}"
	} else if doc.Source(ref) != nil && srcs[doc.Source(ref).Name] != nil {
		// NAME#/paths/...: a bare source name.
		ref = "{" + sdPrefix + ref + ".url}"
	}
	if strings.HasPrefix(ref, "{"+sdPrefix) && strings.HasSuffix(ref, ".url}") {
		name := strings.TrimSuffix(strings.TrimPrefix(ref, "{"+sdPrefix), ".url}")
		if sd := doc.Source(name); sd != nil {
			name = sd.Name
		}
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
//
// "$sourceDescriptions.NAME#/workflows/ID" (a JSON pointer to the workflow,
// by workflowId or index) is read as well.
func (b *Bundle) ResolveWorkflow(doc *Document, ref string) (*Document, *Workflow, error) {
	if strings.HasPrefix(ref, sdPrefix) && strings.Contains(ref, "#") {
		name, ptr, _ := strings.Cut(ref[len(sdPrefix):], "#")
		sub := b.ArazzoSource(doc, name)
		if sub == nil {
			return nil, nil, fmt.Errorf("workflowId %s: no arazzo source description named %q: %w", ref, name, ErrNotFound)
		}
		if w := workflowAtPointer(sub, ptr); w != nil {
			return sub, w, nil
		}
		return nil, nil, fmt.Errorf("workflowId %s: no workflow at %q in %s: %w", ref, ptr, name, ErrNotFound)
	}
	if name, id, ok := splitSourceRef(ref); ok {
		sub := b.ArazzoSource(doc, name)
		if sub == nil {
			return nil, nil, fmt.Errorf("workflowId %s: no arazzo source description named %q: %w", ref, name, ErrNotFound)
		}
		// $sourceDescriptions.NAME.workflows.ID: a deviation seen in the
		// wild, read when no workflow is named "workflows.ID".
		if rest, ok := strings.CutPrefix(id, "workflows."); ok && sub.Workflow(id) == nil {
			id = rest
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

// workflowAtPointer returns the workflow of d that the JSON pointer
// "/workflows/<workflowId or index>" names, or nil.
func workflowAtPointer(d *Document, ptr string) *Workflow {
	p, err := jsonpointer.New(ptr)
	if err != nil {
		return nil
	}
	toks := p.DecodedTokens()
	if len(toks) != 2 || toks[0] != "workflows" {
		return nil
	}
	if w := d.Workflow(toks[1]); w != nil {
		return w
	}
	var i int
	if _, err := fmt.Sscanf(toks[1], "%d", &i); err == nil && fmt.Sprint(i) == toks[1] && i >= 0 && i < len(d.Workflows) {
		return &d.Workflows[i]
	}
	return nil
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
