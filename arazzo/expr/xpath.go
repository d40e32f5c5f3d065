package expr

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/antchfx/xmlquery"
	"github.com/antchfx/xpath"
)

// XPath versions accepted in an Expression Type Object.
var xpathVersions = map[string]bool{"": true, "xpath-10": true, "xpath-20": true, "xpath-30": true, "xpath-31": true}

// compileXPath compiles an XPath expression with antchfx/xpath, an XPath
// 1.0 engine with part of the 2.0 function library: expressions of later
// versions that it does not know fail to compile.
func compileXPath(s, version string) (*xpath.Expr, error) {
	if !xpathVersions[version] {
		return nil, fmt.Errorf("unknown xpath version %q", version)
	}
	if len(s) > maxExprLen {
		return nil, errors.New("xpath expression too long")
	}
	e, err := xpath.Compile(s)
	if err != nil {
		return nil, fmt.Errorf("xpath (evaluated by an XPath 1.0 engine): %w", err)
	}
	return e, nil
}

// maxXMLBytes bounds an XML document parsed for an xpath criterion or
// selector.
const maxXMLBytes = 64 << 20

// xmlDoc parses the context value of an xpath criterion or selector e: a
// string holding an XML document. It refuses a document on which e would
// cost more than MaxJSONPathCost node visits (see [CheckJSONPathCost]; the
// descendant steps here are "//" and the descendant axes).
func xmlDoc(v any, e *xpath.Expr) (*xmlquery.Node, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("the context is not XML text (%s)", describe(v))
	}
	if len(s) > maxXMLBytes {
		return nil, errors.New("the XML context is too large")
	}
	doc, err := xmlquery.Parse(strings.NewReader(s))
	if err != nil {
		return nil, fmt.Errorf("the context is not XML: %w", err)
	}
	q := e.String()
	if k := strings.Count(q, "//") + strings.Count(q, "descendant"); k > 1 {
		nodes, depth := xmlShape(doc, MaxJSONPathCost)
		cost := nodes
		for i := 1; i < k && cost <= MaxJSONPathCost; i++ {
			cost *= max(depth, 1)
		}
		if cost > MaxJSONPathCost {
			return nil, fmt.Errorf("xpath %q is too costly on this document (%d nodes, %d deep, %d descendant steps)", q, nodes, depth, k)
		}
	}
	return doc, nil
}

// xmlShape returns the node count and depth of an XML tree, counting no
// further than limit nodes.
func xmlShape(root *xmlquery.Node, limit int) (nodes, depth int) {
	type item struct {
		n *xmlquery.Node
		d int
	}
	stack := []item{{root, 1}}
	for len(stack) > 0 && nodes <= limit {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		nodes++
		depth = max(depth, it.d)
		for c := it.n.FirstChild; c != nil; c = c.NextSibling {
			stack = append(stack, item{c, it.d + 1})
		}
	}
	return nodes, depth
}

// ebv is the effective boolean value of an XPath result: a node set is
// true when not empty, a number when neither zero nor NaN, a string when
// not empty.
func ebv(r any) bool {
	switch x := r.(type) {
	case bool:
		return x
	case float64:
		return x != 0 && !math.IsNaN(x)
	case string:
		return x != ""
	case *xpath.NodeIterator:
		return x.MoveNext()
	}
	return false
}

// evalXPathCondition evaluates an xpath condition on the context value.
func evalXPathCondition(e *xpath.Expr, ctx any) (bool, error) {
	doc, err := xmlDoc(ctx, e)
	if err != nil {
		return false, err
	}
	return ebv(e.Evaluate(xmlquery.CreateXPathNavigator(doc))), nil
}

// selectXPath applies an xpath selector: one node gives its text, several
// an array of their texts, none an undefined value; a number, string or
// boolean result is returned as is.
func selectXPath(v any, selector, version string) (any, error) {
	e, err := compileXPath(selector, version)
	if err != nil {
		return nil, err
	}
	doc, err := xmlDoc(v, e)
	if err != nil {
		return nil, err
	}
	r := e.Evaluate(xmlquery.CreateXPathNavigator(doc))
	it, ok := r.(*xpath.NodeIterator)
	if !ok {
		return r, nil
	}
	var out []any
	for it.MoveNext() {
		out = append(out, it.Current().Value())
		if len(out) > 100000 {
			return nil, errors.New("xpath selector selects too many nodes")
		}
	}
	switch len(out) {
	case 0:
		return nil, fmt.Errorf("selector %q selects nothing: %w", selector, ErrUndefined)
	case 1:
		return out[0], nil
	}
	return out, nil
}

// ReplaceXPath sets the nodes an XPath expression selects in an XML
// document to value (rendered as text, see [String]): an element's content
// becomes that text, an attribute its value. It returns the document
// serialised again, or an error when the expression selects nothing.
func ReplaceXPath(doc, target string, value any) (string, error) {
	e, err := compileXPath(target, "")
	if err != nil {
		return "", err
	}
	top, err := xmlDoc(doc, e)
	if err != nil {
		return "", fmt.Errorf("the payload: %w", err)
	}
	nodes, err := xmlquery.QueryAll(top, e.String())
	if err != nil {
		return "", err
	}
	if len(nodes) == 0 {
		return "", fmt.Errorf("the XPath target %q selects nothing in the payload", target)
	}
	text := String(value)
	for _, n := range nodes {
		switch n.Type {
		case xmlquery.AttributeNode:
			n.Parent.SetAttr(n.Data, text)
		case xmlquery.ElementNode:
			for c := n.FirstChild; c != nil; {
				next := c.NextSibling
				xmlquery.RemoveFromTree(c)
				c = next
			}
			xmlquery.AddChild(n, &xmlquery.Node{Type: xmlquery.TextNode, Data: text})
		case xmlquery.TextNode, xmlquery.CharDataNode:
			n.Data = text
		default:
			return "", fmt.Errorf("the XPath target %q selects a node that cannot take a value", target)
		}
	}
	return top.OutputXML(false), nil
}
