package importer

import (
	"bytes"
	"context"
	"io"

	"github.com/openhealthimaging/ohi"
	"github.com/openhealthimaging/ohi/dicom"
	"github.com/openhealthimaging/ohi/metadoc"
)

// storeHeader stores the instance's data set without its pixel data
// (dicom.Instance.EncodeDataset) next to its frames, so that DICOMweb can
// return the original file, private tags and sequences included. It is
// recorded as a frame row of transfer syntax ohi.HeaderTransferSyntax,
// which gives it the frames' sharing and reclamation.
func (im *Importer) storeHeader(ctx context.Context, job *ohi.ImportJob, inst *dicom.Instance, p *parsedInstance) error {
	hdr, err := inst.EncodeDataset()
	if err != nil {
		return err
	}
	id := HeaderID()
	key := FrameKey(job.DatastoreID, job.ID, id)
	// The header comes from memory: its reads are the write's progress.
	var r io.Reader = bytes.NewReader(hdr)
	if watch := watchOf(ctx); watch != nil {
		watch.stage(0, stageStore)
		r = progressReader{r, watch}
	}
	if err := im.putFrame(ctx, key, r, int64(len(hdr))); err != nil {
		return err
	}
	p.Header = &storedFrame{ID: id, Key: key, Size: int64(len(hdr))}
	return nil
}

// HeaderID returns a new frame id for a stored header. Its suffix keeps
// it out of GetImageFrame's reach (frame ids there are 32 characters) and
// tells it apart from frames in listings.
func HeaderID() string { return ohi.NewID() + HeaderSuffix }

// HeaderSuffix ends the frame id (and blob key) of every stored header.
const HeaderSuffix = ".hdr"

// commitIndex returns the DICOMweb index of a version the importer
// commits, with the headers of the instances it adds, and adds their
// header rows to frames.
func commitIndex(doc *metadoc.Document, setID string, insts []*parsedInstance, frames []*ohi.Frame) (*ohi.DICOMIndex, []*ohi.Frame, error) {
	idx, err := doc.Index()
	if err != nil {
		return nil, nil, err
	}
	headers := map[string]string{}
	for _, p := range insts {
		if p.Header != nil {
			headers[p.SOPInstanceUID] = p.Header.ID
			frames = append(frames, &ohi.Frame{ID: p.Header.ID, ImageSetID: setID, BlobKey: p.Header.Key,
				TransferSyntaxUID: ohi.HeaderTransferSyntax, Size: p.Header.Size})
		}
	}
	for i := range idx.Instances {
		idx.Instances[i].HeaderID = headers[idx.Instances[i].SOPInstanceUID]
	}
	return idx, frames, nil
}
