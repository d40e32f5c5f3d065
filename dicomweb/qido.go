package dicomweb

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/dicom"
)

// QIDO-RS limits (AWS HealthImaging's).
const (
	DefaultLimit   = 1000
	MaxLimit       = 1000
	MaxOffset      = 1_000_000
	maxIncludeTags = 50
	// maxIncludeNames bounds the names of includefield, each a dictionary
	// look-up; maxSeqDepth the components of a dotted sequence path.
	maxIncludeNames = 200
	maxSeqDepth     = 8
	// maxMatchValues bounds the values of one attribute match (a
	// comma-separated list) and maxMatchLen the length of each.
	maxMatchValues = 100
	maxMatchLen    = 1024
)

// searchAttr is a searchable attribute: its index column and matching.
type searchAttr struct {
	column string
	kind   string // "uid" (lists), "text", "pn", "date", "time", "number", "list"
	level  string // "study", "series", "instance"
}

// searchAttrs are AWS's searchable attributes, by tag.
var searchAttrs = map[uint32]searchAttr{
	0x00080020: {"study_date", "date", "study"},
	0x00080030: {"study_time", "time", "study"},
	0x00080050: {"accession", "text", "study"},
	0x00080061: {"modalities_in_study", "list", "study"},
	0x00080090: {"referring_physician", "pn", "study"},
	0x00081030: {"study_description", "text", "study"},
	0x00100010: {"patient_name", "pn", "study"},
	0x00100020: {"patient_id", "text", "study"},
	0x00100030: {"patient_birth_date", "date", "study"},
	0x00100032: {"patient_birth_time", "time", "study"},
	0x0020000D: {"study_uid", "uid", "study"},
	0x00200010: {"study_id", "text", "study"},
	0x00080060: {"modality", "text", "series"},
	0x0020000E: {"series_uid", "uid", "series"},
	0x00200011: {"series_number", "number", "series"},
	0x00400244: {"pps_start_date", "date", "series"},
	0x00400245: {"pps_start_time", "time", "series"},
	0x00080016: {"sop_class_uid", "uid", "instance"},
	0x00080018: {"sop_uid", "uid", "instance"},
}

var levelRank = map[string]int{"study": 0, "series": 1, "instance": 2}

// qidoRequest is a parsed QIDO-RS query.
type qidoRequest struct {
	q       ohi.DICOMQuery
	include map[string]bool // tags; nil with all
	all     bool
}

// parseQuery reads the query string of a search at level.
func parseQuery(r *http.Request, level string) (*qidoRequest, error) {
	dsID := r.PathValue("datastoreId")
	if !imageSetIDRE.MatchString(dsID) {
		return nil, errorf(http.StatusBadRequest, "datastoreId %q is not a data store id", dsID)
	}
	qr := &qidoRequest{q: ohi.DICOMQuery{DatastoreID: dsID, Limit: DefaultLimit}, include: map[string]bool{}}
	for _, p := range []struct{ name, tag string }{{"StudyInstanceUID", "0020000D"}, {"SeriesInstanceUID", "0020000E"}} {
		if v := r.PathValue(p.name); v != "" {
			if !uidRE.MatchString(v) {
				return nil, errorf(http.StatusBadRequest, "%s %q is not a DICOM UID", p.name, v)
			}
			col := "study_uid"
			if p.name == "SeriesInstanceUID" {
				col = "series_uid"
			}
			qr.q.Conds = append(qr.q.Conds, ohi.DICOMCond{Column: col, Values: []string{v}})
		}
	}
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "the query string does not parse: %v", err)
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := vals[k]
		switch strings.ToLower(k) {
		case "limit":
			n, err := strconv.Atoi(v[0])
			if err != nil || n < 1 || n > MaxLimit {
				return nil, errorf(http.StatusBadRequest, "limit %q must be an integer from 1 to %d", v[0], MaxLimit)
			}
			qr.q.Limit = n
			continue
		case "offset":
			n, err := strconv.Atoi(v[0])
			if err != nil || n < 0 || n > MaxOffset {
				return nil, errorf(http.StatusBadRequest, "offset %q must be an integer from 0 to %d", v[0], MaxOffset)
			}
			qr.q.Offset = n
			continue
		case "fuzzymatching":
			switch strings.ToLower(v[0]) {
			case "true":
				qr.q.Fuzzy = true
			case "false", "":
			default:
				return nil, errorf(http.StatusBadRequest, "fuzzymatching %q must be true or false", v[0])
			}
			continue
		case "includefield":
			names := 0
			for _, f := range v {
				names += strings.Count(f, ",") + 1
			}
			if names > maxIncludeNames {
				return nil, errorf(http.StatusBadRequest, "includefield lists %d names; at most %d (of which the first %d attributes are returned)", names, maxIncludeNames, maxIncludeTags)
			}
			for _, f := range v {
				for _, name := range strings.Split(f, ",") {
					name = strings.TrimSpace(name)
					if strings.EqualFold(name, "all") {
						qr.all = true
						continue
					}
					if len(qr.include) >= maxIncludeTags || name == "" || len(name) > 64*maxSeqDepth {
						continue // beyond AWS's 50, or no name: dropped as invalid ones are
					}
					top, _, _ := strings.Cut(name, ".")
					if a, ok := dicom.LookupAttribute(top); ok && len(qr.include) < maxIncludeTags {
						qr.include[fmt.Sprintf("%08X", a.Tag)] = true
					}
				}
			}
			continue
		case "imagesetid":
			continue
		}
		a, ok := dicom.LookupAttribute(k)
		if ok && a.Private && a.Tag&0xFF00 == 0 && a.Tag&0xFF >= 0x10 {
			// A private creator (gggg,0010-00FF) qualifies the private
			// tags of includefield; it is not a match.
			continue
		}
		if !ok {
			return nil, errorf(http.StatusBadRequest, "query parameter %q is neither a DICOM keyword or tag nor one of limit, offset, includefield, fuzzymatching", k)
		}
		sa, ok := searchAttrs[a.Tag]
		if !ok || levelRank[sa.level] > levelRank[level] {
			return nil, errorf(http.StatusBadRequest, "%s is not a searchable attribute of %s searches", k, level)
		}
		if len(v) > 1 {
			return nil, errorf(http.StatusBadRequest, "%s is given %d times; give one value (a comma-separated list to match any)", k, len(v))
		}
		c, err := condition(sa, k, v[0])
		if err != nil {
			return nil, err
		}
		if c != nil {
			qr.q.Conds = append(qr.q.Conds, *c)
		}
	}
	return qr, nil
}

// condition parses one attribute match; nil for universal matching.
func condition(sa searchAttr, name, v string) (c *ohi.DICOMCond, err error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "*" {
		return nil, nil
	}
	if n := strings.Count(v, ",") + strings.Count(v, `\`) + 1; n > maxMatchValues {
		return nil, errorf(http.StatusBadRequest, "%s lists %d values; at most %d", name, n, maxMatchValues)
	}
	if len(v) > maxMatchLen*maxMatchValues {
		return nil, errorf(http.StatusBadRequest, "%s is longer than %d bytes", name, maxMatchLen*maxMatchValues)
	}
	c = &ohi.DICOMCond{Column: sa.column, Person: sa.kind == "pn"}
	defer func() {
		if c == nil {
			return
		}
		for _, s := range c.Values {
			if len(s) > maxMatchLen {
				c, err = nil, errorf(http.StatusBadRequest, "a value of %s is longer than %d bytes", name, maxMatchLen)
				return
			}
		}
	}()
	switch sa.kind {
	case "date", "time":
		if lo, hi, isRange := strings.Cut(v, "-"); isRange {
			if lo == "" && hi == "" {
				return nil, errorf(http.StatusBadRequest, "%s range %q has no bounds", name, v)
			}
			if sa.kind == "time" {
				lo, hi = strings.ReplaceAll(lo, ":", ""), strings.ReplaceAll(hi, ":", "")
				hi = timeHi(hi)
			}
			if !validDT(sa.kind, lo) || !validDT(sa.kind, hi) {
				return nil, errorf(http.StatusBadRequest, "%s range %q is not %s", name, v, dtForm(sa.kind))
			}
			c.Range, c.Lo, c.Hi = true, lo, hi
			return c, nil
		}
		if !validDT(sa.kind, v) {
			return nil, errorf(http.StatusBadRequest, "%s %q is not %s", name, v, dtForm(sa.kind))
		}
		if sa.kind == "time" {
			c.Range, c.Lo, c.Hi = true, v, timeHi(v)
			return c, nil
		}
		c.Values = []string{v}
	case "uid":
		for _, u := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '\\' }) {
			if !uidRE.MatchString(strings.TrimSpace(u)) {
				return nil, errorf(http.StatusBadRequest, "%s %q is not a DICOM UID", name, u)
			}
			c.Values = append(c.Values, strings.TrimSpace(u))
		}
	case "number":
		for _, s := range strings.Split(v, ",") {
			if _, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err != nil {
				return nil, errorf(http.StatusBadRequest, "%s %q is not an integer", name, s)
			}
			c.Values = append(c.Values, strings.TrimSpace(s))
		}
	default:
		c.Wildcard = true
		for _, s := range strings.Split(v, ",") {
			c.Values = append(c.Values, strings.TrimSpace(s))
		}
	}
	return c, nil
}

// timeHi extends an upper time bound over the fractions of its last
// second (stored times compare as text).
func timeHi(s string) string {
	if s == "" || strings.Contains(s, ".") {
		return s
	}
	return s + ".9999999"
}

func validDT(kind, s string) bool {
	if s == "" {
		return true
	}
	for _, r := range s {
		if (r < '0' || r > '9') && r != '.' {
			return false
		}
	}
	if kind == "date" {
		return len(s) == 8
	}
	return len(s) >= 2
}

func dtForm(kind string) string {
	if kind == "date" {
		return "a date YYYYMMDD or a range YYYYMMDD-YYYYMMDD"
	}
	return "a time HHMMSS[.FFFFFF] or a range of them"
}

// Default return attributes (PS3.18 Tables 6.7.1-2, 6.7.1-2a, 6.7.1-2b).
var (
	studyDefaults = tagSet("00080005", "00080020", "00080030", "00080050", "00080056", "00080061", "00080090", "00080201",
		"00100010", "00100020", "00100030", "00100040", "0020000D", "00200010", "00201206", "00201208", "00081030")
	seriesDefaults = tagSet("00080005", "00080060", "00080201", "0008103E", "0020000E", "00400244", "00400245", "00400275",
		"00200011", "00201209", "0020000D", "00080056")
	instanceDefaults = tagSet("00080005", "00080016", "00080018", "00080056", "00080201", "00200013", "00280010", "00280011",
		"00280100", "00280008", "0020000D", "0020000E")
)

func tagSet(tags ...string) map[string]bool {
	m := map[string]bool{}
	for _, t := range tags {
		m[t] = true
	}
	return m
}

// keep returns the tags to return: the defaults and includefield, or nil
// for all.
func (qr *qidoRequest) keep(defaults map[string]bool) map[string]bool {
	if qr.all {
		return nil
	}
	m := map[string]bool{}
	for t := range defaults {
		m[t] = true
	}
	for t := range qr.include {
		m[t] = true
	}
	return m
}

func seriesLevels(e *ohi.DICOMSeriesEntry) [3]map[string]any {
	var lv struct{ Patient, Study, Series map[string]any }
	dec := json.NewDecoder(strings.NewReader(string(e.Levels)))
	dec.UseNumber()
	_ = dec.Decode(&lv)
	return [3]map[string]any{lv.Patient, lv.Study, lv.Series}
}

func isElem(vr string, vals ...any) *Element { return &Element{VR: vr, Value: vals} }

func (h *Handler) searchStudies(w http.ResponseWriter, r *http.Request) error {
	qr, err := parseQuery(r, "study")
	if err != nil {
		return err
	}
	rows, err := h.svc.DICOMSearchStudies(r.Context(), &qr.q)
	if err != nil {
		return err
	}
	out := make([]Dataset, 0, len(rows))
	keep := qr.keep(studyDefaults)
	for _, st := range rows {
		if len(st.Series) == 0 {
			continue
		}
		lv := seriesLevels(&st.Series[0].Entry)
		d := levelsJSON([3]map[string]any{lv[0], lv[1], nil})
		mods := map[string]bool{}
		var modList []any
		instances := 0
		for _, se := range st.Series {
			instances += se.Instances
			if m := se.Entry.Modality; m != "" && !mods[m] {
				mods[m] = true
				modList = append(modList, m)
			}
		}
		d["00080061"] = &Element{VR: "CS", Value: modList}
		d["00201206"] = isElem("IS", len(st.Series))
		d["00201208"] = isElem("IS", instances)
		d["00080056"] = isElem("CS", "ONLINE")
		out = append(out, d.filter(keep))
	}
	return writeJSON(w, out)
}

func (h *Handler) searchSeries(w http.ResponseWriter, r *http.Request) error {
	qr, err := parseQuery(r, "series")
	if err != nil {
		return err
	}
	rows, err := h.svc.DICOMSearchSeries(r.Context(), &qr.q)
	if err != nil {
		return err
	}
	keep := qr.keep(seriesDefaults)
	out := make([]Dataset, 0, len(rows))
	for _, se := range rows {
		out = append(out, seriesJSON(se).filter(keep))
	}
	return writeJSON(w, out)
}

func seriesJSON(se *ohi.DICOMSeriesRow) Dataset {
	d := levelsJSON(seriesLevels(&se.Entry))
	if se.Entry.PPSStartDate != "" {
		d["00400244"] = isElem("DA", se.Entry.PPSStartDate)
	}
	if se.Entry.PPSStartTime != "" {
		d["00400245"] = isElem("TM", se.Entry.PPSStartTime)
	}
	d["00201209"] = isElem("IS", se.Instances)
	d["00080056"] = isElem("CS", "ONLINE")
	return d
}

func (h *Handler) searchInstances(w http.ResponseWriter, r *http.Request) error {
	qr, err := parseQuery(r, "instance")
	if err != nil {
		return err
	}
	if r.PathValue("StudyInstanceUID") != "" && r.PathValue("SeriesInstanceUID") == "" {
		qr.q.ByUpdate = true // AWS orders a study's instances by last update
	}
	rows, err := h.svc.DICOMSearchInstances(r.Context(), &qr.q)
	if err != nil {
		return err
	}
	keep := qr.keep(instanceDefaults)
	needDoc := qr.all
	for t := range qr.include {
		if !instanceDefaults[t] {
			needDoc = true
		}
	}
	out := make([]Dataset, 0, len(rows))
	seriesOf := map[string]Dataset{} // one conversion per image set
	for _, row := range rows {
		sd := seriesOf[row.Series.ImageSetID]
		if sd == nil {
			sd = seriesJSON(&row.Series)
			seriesOf[row.Series.ImageSetID] = sd
		}
		d := make(Dataset, len(sd)+10)
		for t, e := range sd {
			d[t] = e
		}
		in := &row.Instance
		if needDoc {
			doc, err := h.svc.Document(r.Context(), row.MetadataKey)
			if err != nil {
				return err
			}
			inst, err := doc.Instance(in.SOPInstanceUID)
			if err != nil {
				return err
			}
			x := ohi.DICOMInstanceRef{DatastoreID: qr.q.DatastoreID, StudyInstanceUID: row.Series.Entry.StudyInstanceUID, SeriesInstanceUID: row.Series.Entry.SeriesInstanceUID}
			for t, e := range metadataJSON(r, x, seriesLevels(&row.Series.Entry), in.SOPInstanceUID, inst) {
				d[t] = e
			}
		}
		d["00080016"] = isElem("UI", in.SOPClassUID)
		d["00080018"] = isElem("UI", in.SOPInstanceUID)
		if in.InstanceNumber != nil {
			d["00200013"] = isElem("IS", *in.InstanceNumber)
		}
		if in.Rows > 0 {
			d["00280010"] = isElem("US", in.Rows)
			d["00280011"] = isElem("US", in.Columns)
			d["00280100"] = isElem("US", in.BitsAllocated)
		}
		if in.NumberOfFrames > 0 {
			d["00280008"] = isElem("IS", in.NumberOfFrames)
		}
		d["00080056"] = isElem("CS", "ONLINE")
		out = append(out, d.filter(keep))
	}
	return writeJSON(w, out)
}
