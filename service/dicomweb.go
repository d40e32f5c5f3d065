package service

import (
	"container/list"
	"context"
	"fmt"
	"sync"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/metadoc"
)

// DICOMweb reads: the index finds the image set of an instance or series
// (ohi.MetadataStore.DICOMInstanceFind), and the image set's current
// metadata document, decoded once and cached by its immutable blob key,
// gives the attributes and frames GetImageSetMetadata and GetImageFrame
// serve for the same instance.

// DICOMInstance is one instance as DICOMweb serves it.
type DICOMInstance struct {
	Loc      *ohi.DICOMInstanceLoc
	Doc      *metadoc.Document
	Instance *metadoc.Instance
}

// Levels returns the Patient, Study and Series attributes of the instance.
func (d *DICOMInstance) Levels() [3]map[string]any { return Levels(d.Doc) }

// Levels returns a document's Patient, Study and Series attributes.
func Levels(doc *metadoc.Document) [3]map[string]any {
	_, se := doc.Series()
	return [3]map[string]any{doc.Patient.DICOM, doc.Study.DICOM, se.DICOM}
}

// DICOMInstance resolves a WADO-RS instance reference.
func (s *Service) DICOMInstance(ctx context.Context, ref ohi.DICOMInstanceRef) (*DICOMInstance, error) {
	loc, err := s.store.DICOMInstanceFind(ctx, ref)
	if err != nil {
		return nil, err
	}
	doc, err := s.Document(ctx, loc.MetadataKey)
	if err != nil {
		return nil, err
	}
	in, err := doc.Instance(ref.SOPInstanceUID)
	if err != nil {
		return nil, err
	}
	return &DICOMInstance{Loc: loc, Doc: doc, Instance: in}, nil
}

// DICOMSeries resolves a WADO-RS series reference (ref.SOPInstanceUID is
// ignored) to its image set's document.
func (s *Service) DICOMSeries(ctx context.Context, ref ohi.DICOMInstanceRef) (*ohi.DICOMInstanceLoc, *metadoc.Document, error) {
	ref.SOPInstanceUID = ""
	loc, err := s.store.DICOMInstanceFind(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	doc, err := s.Document(ctx, loc.MetadataKey)
	return loc, doc, err
}

// DICOMFrame returns a stored frame of an image set.
func (s *Service) DICOMFrame(ctx context.Context, datastoreID, imageSetID, frameID string) (*ohi.Frame, error) {
	return s.store.FrameGet(ctx, datastoreID, imageSetID, frameID)
}

// OpenBlob opens a stored frame, header or document.
func (s *Service) OpenBlob(ctx context.Context, key string) (ohi.Object, error) {
	return s.blobs.Open(ctx, key)
}

// DICOMSearchStudies runs a QIDO-RS study search.
func (s *Service) DICOMSearchStudies(ctx context.Context, q *ohi.DICOMQuery) ([]*ohi.DICOMStudyRow, error) {
	if _, err := s.existingDatastore(ctx, q.DatastoreID); err != nil {
		return nil, err
	}
	return s.store.DICOMSearchStudies(ctx, q)
}

// DICOMSearchSeries runs a QIDO-RS series search.
func (s *Service) DICOMSearchSeries(ctx context.Context, q *ohi.DICOMQuery) ([]*ohi.DICOMSeriesRow, error) {
	if _, err := s.existingDatastore(ctx, q.DatastoreID); err != nil {
		return nil, err
	}
	return s.store.DICOMSearchSeries(ctx, q)
}

// DICOMSearchInstances runs a QIDO-RS instance search.
func (s *Service) DICOMSearchInstances(ctx context.Context, q *ohi.DICOMQuery) ([]*ohi.DICOMInstanceRow, error) {
	if _, err := s.existingDatastore(ctx, q.DatastoreID); err != nil {
		return nil, err
	}
	return s.store.DICOMSearchInstances(ctx, q)
}

// Document returns the decoded metadata document stored under key. Keys
// are never reused for another document, so the cache needs no
// invalidation. Callers must not modify the document.
func (s *Service) Document(ctx context.Context, key string) (*metadoc.Document, error) {
	if d := s.docs.get(key); d != nil {
		return d, nil
	}
	d, err := s.loadDoc(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("metadata of the image set: %w", err)
	}
	s.docs.put(key, d)
	return d, nil
}

// docCacheSize is how many decoded documents DICOMweb keeps.
const docCacheSize = 32

// docCache is a small LRU of decoded metadata documents.
type docCache struct {
	mu    sync.Mutex
	order list.List // of string keys, most recent first
	m     map[string]*docEntry
}

type docEntry struct {
	doc *metadoc.Document
	el  *list.Element
}

func (c *docCache) get(key string) *metadoc.Document {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[key]
	if e == nil {
		return nil
	}
	c.order.MoveToFront(e.el)
	return e.doc
}

func (c *docCache) put(key string, d *metadoc.Document) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*docEntry{}
	}
	if _, ok := c.m[key]; ok {
		return
	}
	c.m[key] = &docEntry{doc: d, el: c.order.PushFront(key)}
	for c.order.Len() > docCacheSize {
		last := c.order.Back()
		delete(c.m, last.Value.(string))
		c.order.Remove(last)
	}
}

// indexExisting gives the image sets committed before the DICOMweb index
// existed their index entries (their instances have no stored header, so
// GetDICOMInstance answers 404 for them; everything else works).
func (s *Service) indexExisting(ctx context.Context) {
	n := 0
	for ctx.Err() == nil {
		list, err := s.store.DICOMUnindexed(ctx, 100)
		if err != nil {
			s.logger.Warn("DICOMweb index of existing image sets", "err", err)
			return
		}
		if len(list) == 0 {
			break
		}
		progressed := false
		for _, v := range list {
			doc, err := s.loadDoc(ctx, v.MetadataKey)
			if err != nil {
				s.logger.Warn("DICOMweb index: metadata document", "imageSetId", v.ImageSetID, "err", err)
				continue
			}
			idx, err := doc.Index()
			if err != nil {
				s.logger.Warn("DICOMweb index", "imageSetId", v.ImageSetID, "err", err)
				continue
			}
			ok, err := s.store.DICOMIndexPut(ctx, v.ImageSetID, v.Version, idx)
			if err != nil {
				s.logger.Warn("DICOMweb index", "imageSetId", v.ImageSetID, "err", err)
				return
			}
			if ok {
				n++
				progressed = true
			}
		}
		if !progressed {
			break // the rest fail to load; retried at the next start
		}
	}
	if n > 0 {
		s.logger.Info("indexed existing image sets for DICOMweb", "imageSets", n)
	}
}
