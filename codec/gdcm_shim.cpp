// GDCM 3.0 shim for package codec: decodes one encapsulated frame held in
// memory by building a gdcm::Image around it (one fragment) and asking GDCM
// for its buffer. GDCM's trace output is switched off; no C++ exception may
// leave this file.

#include "gdcm_shim.h"
#include "ojph_shim.h" // status codes

#include <gdcmDataElement.h>
#include <gdcmFragment.h>
#include <gdcmImage.h>
#include <gdcmPhotometricInterpretation.h>
#include <gdcmPixelFormat.h>
#include <gdcmSequenceOfFragments.h>
#include <gdcmTrace.h>
#include <gdcmTransferSyntax.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <stdexcept>

namespace {
std::once_flag quiet_once;

void quiet() {
	std::call_once(quiet_once, [] {
		gdcm::Trace::SetDebug(false);
		gdcm::Trace::SetWarning(false);
		gdcm::Trace::SetError(false);
	});
}

void set_err(char *err, size_t errlen, const char *msg) {
	if (err && errlen) snprintf(err, errlen, "%s", msg);
}
} // namespace

extern "C" int ohi_gdcm_decode(const ohi_gdcm_image *in, const uint8_t *data, size_t len,
                               uint8_t *out, size_t out_len, uint32_t *planar_out,
                               char *pi_out, size_t pi_len, char *err, size_t errlen) {
	try {
		quiet();
		gdcm::TransferSyntax ts(gdcm::TransferSyntax::GetTSType(in->transfer_syntax));
		if (ts == gdcm::TransferSyntax::TS_END || !ts.IsEncapsulated()) {
			set_err(err, errlen, "gdcm does not know this transfer syntax");
			return OHI_UNSUPPORTED;
		}
		gdcm::PhotometricInterpretation pi(gdcm::PhotometricInterpretation::GetPIType(in->photometric));
		if (pi == gdcm::PhotometricInterpretation::UNKNOWN || pi == gdcm::PhotometricInterpretation::PI_END) {
			set_err(err, errlen, "gdcm does not know this photometric interpretation");
			return OHI_UNSUPPORTED;
		}
		gdcm::Image img;
		img.SetNumberOfDimensions(2);
		img.SetDimension(0, in->columns);
		img.SetDimension(1, in->rows);
		gdcm::PixelFormat pf((unsigned short)in->samples, (unsigned short)in->bits_allocated,
		                     (unsigned short)in->bits_stored, (unsigned short)(in->bits_stored - 1),
		                     (unsigned short)in->pixel_representation);
		img.SetPixelFormat(pf);
		img.SetPhotometricInterpretation(pi);
		img.SetPlanarConfiguration(in->planar);
		img.SetTransferSyntax(ts);

		gdcm::SmartPointer<gdcm::SequenceOfFragments> sq = new gdcm::SequenceOfFragments;
		gdcm::Fragment frag;
		frag.SetByteValue(reinterpret_cast<const char *>(data), (uint32_t)len);
		sq->AddFragment(frag);
		gdcm::DataElement px(gdcm::Tag(0x7fe0, 0x0010));
		px.SetVR(gdcm::VR::OB);
		px.SetValue(*sq);
		img.SetDataElement(px);

		if (img.GetBufferLength() != out_len) {
			set_err(err, errlen, "gdcm computes a different decoded frame size");
			return OHI_UNSUPPORTED;
		}
		if (!img.GetBuffer(reinterpret_cast<char *>(out))) {
			set_err(err, errlen, "gdcm could not decode the frame");
			return OHI_CORRUPT;
		}
		*planar_out = img.GetPlanarConfiguration();
		const char *s = img.GetPhotometricInterpretation().GetString();
		if (pi_out && pi_len) snprintf(pi_out, pi_len, "%s", s ? s : "");
		return OHI_OK;
	} catch (const std::bad_alloc &) {
		set_err(err, errlen, "out of memory");
		return OHI_NOMEM;
	} catch (const std::exception &e) {
		set_err(err, errlen, e.what());
		return OHI_CORRUPT;
	} catch (...) {
		set_err(err, errlen, "unknown C++ exception");
		return OHI_CORRUPT;
	}
}
