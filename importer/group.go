package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/dicom"
	"github.com/openhealthimaging/ohi/metadoc"
)

// storedFrame is a frame written to the blob store.
type storedFrame struct {
	ID        string                  `json:"id"`
	Key       string                  `json:"key"`
	Size      int64                   `json:"size"` // bytes stored (and served by GetImageFrame)
	Index     int                     `json:"index"`
	Checksums []metadoc.LevelChecksum `json:"checksums,omitempty"`
	Min       *int64                  `json:"min,omitempty"`
	Max       *int64                  `json:"max,omitempty"`
}

// failure is the recorded outcome of a file that could not be imported.
type failure struct {
	ExceptionType string `json:"exceptionType"`
	Message       string `json:"message"`
	// Mappings are the importConfiguration mappings that selected a file
	// failed for their metadata file (not part of the job output).
	Mappings []int `json:"mappings,omitempty"`
}

// committed is the recorded outcome of an imported file.
type committed struct {
	ImageSetID      string          `json:"imageSetId"`
	ImageSetVersion int64           `json:"imageSetVersion"`
	IsPrimary       bool            `json:"isPrimary"`
	Warnings        []dicom.Warning `json:"warnings,omitempty"`
	Mappings        []int           `json:"mappings,omitempty"` // importConfiguration mappings applied
}

// parsedInstance is a read file whose frames are stored, waiting to be
// grouped into an image set.
type parsedInstance struct {
	SOPInstanceUID string            `json:"sop"`
	SeriesUID      string            `json:"series"`
	TransferSyntax string            `json:"ts"`
	Patient        map[string]any    `json:"patient"`
	Study          map[string]any    `json:"study"`
	Series         map[string]any    `json:"seriesLevel"`
	Instance       map[string]any    `json:"instance"`
	VRs            map[string]string `json:"vrs,omitempty"`
	Frames         []storedFrame     `json:"frames"`
	Header         *storedFrame      `json:"header,omitempty"` // the stored data set without pixel data (storeHeader)
	Warnings       []dicom.Warning   `json:"warnings,omitempty"`

	mappings []int // importConfiguration mappings applied (see overrides.go)
}

func newParsedInstance(in *dicom.Instance) *parsedInstance {
	return &parsedInstance{
		SOPInstanceUID: in.SOPInstanceUID, SeriesUID: in.SeriesInstanceUID, TransferSyntax: in.TransferSyntaxUID,
		Patient: in.Patient, Study: in.Study, Series: in.Series, Instance: in.Instance, VRs: in.VRs, Warnings: in.Warnings,
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("importer: marshal %T: %v", v, err))
	}
	return b
}

// instanceGroup is a set of parsed items of one series with one grouping key.
type instanceGroup struct {
	key   metadoc.GroupingKey
	items []*ohi.ImportItem
	insts []*parsedInstance
	// committed is the image set version the group went into.
	committed *ohi.ImageSet
}

// group commits every parsed item of the job into image sets.
func (im *Importer) group(ctx context.Context, job *ohi.ImportJob, log *slog.Logger) error {
	items, err := im.Store.ImportItems(ctx, job.ID)
	if err != nil {
		return err
	}
	mappings, err := im.loadMappings(ctx, job)
	if err != nil {
		return err
	}
	var mappingFailures []*ohi.ImportItem
	bySeries := map[string][]*instanceGroup{}
	var seriesOrder []string
	for _, it := range items {
		if it.State != "parsed" {
			continue
		}
		var p parsedInstance
		dec := json.NewDecoder(bytes.NewReader(it.Result))
		dec.UseNumber()
		if err := dec.Decode(&p); err != nil {
			return fmt.Errorf("decode import item %s: %w", it.Key, err)
		}
		if f := im.applyMappings(mappings, &p, it.JobID, it.Key); f != nil {
			mappingFailures = append(mappingFailures, &ohi.ImportItem{JobID: it.JobID, Key: it.Key, State: "failed", Result: mustJSON(f)})
			continue
		}
		k := metadoc.KeyOf(p.Patient, p.Study, p.Series)
		// The series as image sets record it (metadoc's Tags), so that
		// the next import finds the primary image set this one makes.
		series := metadoc.Text(p.Series["SeriesInstanceUID"])
		if series == "" {
			series = p.SeriesUID
		}
		groups, ok := bySeries[series]
		if !ok {
			seriesOrder = append(seriesOrder, series)
		}
		var g *instanceGroup
		for _, cand := range groups {
			if cand.key == k {
				g = cand
			}
		}
		if g == nil {
			g = &instanceGroup{key: k}
			bySeries[series] = append(groups, g)
		}
		g.items = append(g.items, it)
		g.insts = append(g.insts, &p)
	}
	if err := im.Store.ImportItemsPut(ctx, mappingFailures...); err != nil {
		return err
	}
	sort.Strings(seriesOrder)
	for _, uid := range seriesOrder {
		for _, g := range bySeries[uid] {
			if err := im.commitGroup(ctx, job, uid, g, log); err != nil {
				return err
			}
		}
	}
	return nil
}

// commitGroup appends g to the series' primary image set when their keys
// agree, makes g the primary image set when the series has none, and puts it
// in a new non-primary image set otherwise. It retries when another job
// changed the primary image set concurrently.
func (im *Importer) commitGroup(ctx context.Context, job *ohi.ImportJob, seriesUID string, g *instanceGroup, log *slog.Logger) error {
	for attempt := 0; ; attempt++ {
		err := im.tryCommitGroup(ctx, job, seriesUID, g, log)
		if !errors.Is(err, ohi.ErrConflict) || attempt >= 50 {
			return err
		}
		// Another worker may have committed some of these files (a job
		// whose coordinator was replaced): keep only those still waiting.
		items, err := im.Store.ImportItems(ctx, job.ID)
		if err != nil {
			return err
		}
		waiting := map[string]bool{}
		for _, it := range items {
			waiting[it.Key] = it.State == "parsed"
		}
		var keep instanceGroup
		keep.key = g.key
		for i, it := range g.items {
			if waiting[it.Key] {
				keep.items, keep.insts = append(keep.items, it), append(keep.insts, g.insts[i])
			}
		}
		if len(keep.items) == 0 {
			return nil
		}
		*g = keep
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(10*(attempt+1)) * time.Millisecond):
		}
	}
}

func (im *Importer) tryCommitGroup(ctx context.Context, job *ohi.ImportJob, seriesUID string, g *instanceGroup, log *slog.Logger) error {
	now := time.Now().UTC()
	primary, err := im.Store.ImageSetPrimaryForSeries(ctx, job.DatastoreID, seriesUID)
	if err != nil && !errors.Is(err, ohi.ErrNotFound) {
		return err
	}
	var doc *metadoc.Document
	set := ohi.ImageSet{DatastoreID: job.DatastoreID, State: ohi.ImageSetActive, UpdatedAt: now}
	switch {
	case primary != nil && primary.State == ohi.ImageSetLocked:
		// An update, copy or delete is settling; retry after it.
		return ohi.Conflictf("primary image set %s is locked", primary.ID)
	case primary == nil:
		set.ID, set.Version, set.IsPrimary, set.CreatedAt, set.WorkflowStatus = ohi.NewID(), 1, true, now, ohi.WorkflowCreated
	default:
		ver, err := im.Store.ImageSetVersionGet(ctx, job.DatastoreID, primary.ID, primary.Version)
		if err != nil {
			return err
		}
		pdoc, err := im.loadDocument(ctx, ver.MetadataKey)
		if err != nil {
			return err
		}
		if pdoc.Key() == g.key && primary.State == ohi.ImageSetActive {
			doc = pdoc
			set.ID, set.Version, set.IsPrimary, set.CreatedAt, set.WorkflowStatus = primary.ID, primary.Version+1, true, primary.CreatedAt, ohi.WorkflowImported
		} else {
			set.ID, set.Version, set.IsPrimary, set.CreatedAt, set.WorkflowStatus = ohi.NewID(), 1, false, now, ohi.WorkflowCreated
		}
	}
	if doc == nil {
		first := g.insts[0]
		doc = metadoc.New(job.DatastoreID, set.ID, first.Patient, first.Study, first.SeriesUID, first.Series)
	}
	var frames []*ohi.Frame
	for _, p := range g.insts {
		if err := doc.AddInstance(p.SOPInstanceUID, p.instanceDoc()); err != nil {
			return err
		}
		for _, f := range p.Frames {
			frames = append(frames, &ohi.Frame{ID: f.ID, ImageSetID: set.ID, BlobKey: f.Key, TransferSyntaxUID: p.TransferSyntax, Size: f.Size})
		}
	}
	set.Tags = doc.Tags()
	key := MetadataKey(job.DatastoreID, job.ID, set.ID, set.Version)
	if err := im.saveDocument(ctx, key, doc); err != nil {
		return err
	}
	commitItems := make([]*ohi.ImportItem, len(g.items))
	for i, it := range g.items {
		commitItems[i] = &ohi.ImportItem{JobID: it.JobID, Key: it.Key, State: "committed", ImageSetID: set.ID,
			Result: mustJSON(committed{ImageSetID: set.ID, ImageSetVersion: set.Version, IsPrimary: set.IsPrimary, Warnings: g.insts[i].Warnings,
				Mappings: g.insts[i].mappings})}
	}
	idx, frames, err := commitIndex(doc, set.ID, g.insts, frames)
	if err != nil {
		return err
	}
	if err := im.Store.ImageSetCommit(ctx, &ohi.ImageSetCommit{ImageSet: set, MetadataKey: key, Frames: frames, Items: commitItems, Index: idx}); err != nil {
		_ = im.Blobs.Delete(context.WithoutCancel(ctx), key)
		return err
	}
	g.committed = &set
	log.Info("image set committed", "imageSetId", set.ID, "version", set.Version, "primary", set.IsPrimary, "instances", len(g.items), "series", seriesUID)
	return nil
}

func (p *parsedInstance) instanceDoc() *metadoc.Instance {
	frames := make([]metadoc.Frame, len(p.Frames))
	for i, f := range p.Frames {
		frames[i] = metadoc.Frame{ID: f.ID, FrameSizeInBytes: f.Size, PixelDataChecksumFromBaseToFullResolution: f.Checksums,
			MinPixelValue: f.Min, MaxPixelValue: f.Max}
	}
	return &metadoc.Instance{DICOM: p.Instance, DICOMVRs: p.VRs, StoredTransferSyntaxUID: p.TransferSyntax, ImageFrames: frames}
}

func (im *Importer) loadDocument(ctx context.Context, key string) (*metadoc.Document, error) {
	obj, err := im.Blobs.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	return metadoc.Decode(obj)
}

func (im *Importer) saveDocument(ctx context.Context, key string, d *metadoc.Document) error {
	var buf bytes.Buffer
	if err := d.Encode(&buf); err != nil {
		return err
	}
	return im.Blobs.Put(ctx, key, bytes.NewReader(buf.Bytes()), int64(buf.Len()))
}

// applyMappings applies the job's mappings to one file; a panic fails that
// file only.
func (im *Importer) applyMappings(m *jobMappings, p *parsedInstance, jobID, key string) (f *failure) {
	defer func() {
		if v := recover(); v != nil {
			f = &failure{ExceptionType: "InternalServerException", Message: im.filePanic(recovered(v), "jobId", jobID, "key", key)}
		}
	}()
	im.hook("override", key)
	return m.apply(p)
}
