package dicom

import (
	"fmt"
	"testing"
)

// TestLookupAttributeRemembersMisses: an unknown keyword is looked up in
// the dictionary once, and the remembered misses stay bounded.
func TestLookupAttributeRemembersMisses(t *testing.T) {
	if _, ok := LookupAttribute("NoSuchKeywordAtAll"); ok {
		t.Fatal("found an unknown keyword")
	}
	if _, ok := misses.Load("NoSuchKeywordAtAll"); !ok {
		t.Fatal("the miss is not remembered")
	}
	if _, ok := LookupAttribute("NoSuchKeywordAtAll"); ok {
		t.Fatal("found an unknown keyword the second time")
	}
	if a, ok := LookupAttribute("PatientID"); !ok || a.Tag != 0x00100020 {
		t.Fatalf("PatientID: %+v %v", a, ok)
	}
	for i := range maxMisses + 10 {
		LookupAttribute(fmt.Sprintf("Zz%d", i))
	}
	n := 0
	misses.Range(func(any, any) bool { n++; return true })
	if n > maxMisses {
		t.Fatalf("%d misses remembered, at most %d", n, maxMisses)
	}
}
