package dicom

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// Attribute describes a data element as image set metadata names it: by
// DICOM keyword, or by 8 uppercase hex digits for private and unknown tags.
type Attribute struct {
	Tag     uint32
	Keyword string   // "" for private and unknown tags
	VRs     []string // possible VRs from the dictionary; nil when unknown
	Multi   bool     // the dictionary's VM allows more than one value
	Private bool
	Level   Level // where AHI places the element
}

// LookupAttribute resolves a metadata key: a keyword of the data
// dictionary, or 8 hex digits. It reports false for anything else.
func LookupAttribute(key string) (Attribute, bool) {
	if len(key) == 8 {
		if n, err := strconv.ParseUint(key, 16, 32); err == nil {
			t := uint32(n)
			a := Attribute{Tag: t, Private: (t>>16)%2 == 1, Level: LevelOf(t)}
			if d, ok := lookup(t); ok {
				a.Keyword, a.VRs, a.Multi = d.keyword, d.vrs, d.multi
			}
			return a, true
		}
	}
	if a, ok := byKeyword.Load(key); ok {
		return a.(Attribute), true
	}
	// The dictionary looks keywords up by scanning every entry; the found
	// ones (a bounded set) are remembered, and so are the first
	// maxMisses unknown ones (untrusted query parameters and metadata keys
	// would otherwise cost a scan each, every time).
	if _, ok := misses.Load(key); ok {
		return Attribute{}, false
	}
	info, err := tag.FindByName(key)
	if err != nil || len(info.VRs) == 0 {
		if len(key) <= 64 && missCount.Add(1) <= maxMisses {
			misses.Store(key, true)
		}
		return Attribute{}, false
	}
	t := uint32(info.Tag.Group)<<16 | uint32(info.Tag.Element)
	a := Attribute{Tag: t, Keyword: info.Keyword, VRs: info.VRs, Multi: info.VM != "1" && info.VM != "",
		Level: LevelOf(t)}
	byKeyword.Store(key, a)
	return a, true
}

// byKeyword caches LookupAttribute's keyword results.
var byKeyword sync.Map

// misses caches up to maxMisses keys that are no keyword.
var (
	misses    sync.Map
	missCount atomic.Int64
)

const maxMisses = 4096
