// CharLS 2 shim for package codec: decodes one JPEG-LS frame held in memory
// after checking its header against the DICOM attributes.

#include "jls_shim.h"
#include "ojph_shim.h" // status codes

#include <charls/charls.h>
#include <stdio.h>
#include <string.h>

static void set_err(char *err, size_t errlen, const char *what, charls_jpegls_errc ec) {
	if (!err || !errlen) return;
	if (ec == CHARLS_JPEGLS_ERRC_SUCCESS) {
		snprintf(err, errlen, "%s", what);
	} else {
		const char *m = charls_get_error_message(ec);
		snprintf(err, errlen, "%s: %s", what, m ? m : "unknown error");
	}
}

// status maps a CharLS error to a shim status: what CharLS cannot do is
// Unsupported, everything else is a malformed stream.
static int status(charls_jpegls_errc ec) {
	switch (ec) {
	case CHARLS_JPEGLS_ERRC_NOT_ENOUGH_MEMORY:
		return OHI_NOMEM;
	case CHARLS_JPEGLS_ERRC_ENCODING_NOT_SUPPORTED:
	case CHARLS_JPEGLS_ERRC_PARAMETER_VALUE_NOT_SUPPORTED:
	case CHARLS_JPEGLS_ERRC_COLOR_TRANSFORM_NOT_SUPPORTED:
	case CHARLS_JPEGLS_ERRC_JPEGLS_PRESET_EXTENDED_PARAMETER_TYPE_NOT_SUPPORTED:
	case CHARLS_JPEGLS_ERRC_BIT_DEPTH_FOR_TRANSFORM_NOT_SUPPORTED:
		return OHI_UNSUPPORTED;
	default:
		return OHI_CORRUPT;
	}
}

int ohi_jls_decode(const uint8_t *data, size_t len, uint32_t want_w, uint32_t want_h,
                   uint32_t want_comps, uint32_t want_bits, uint8_t *out, size_t out_len,
                   ohi_jls_info *info, char *err, size_t errlen) {
	memset(info, 0, sizeof *info);
	charls_jpegls_decoder *dec = charls_jpegls_decoder_create();
	if (!dec) {
		set_err(err, errlen, "cannot create a decoder", CHARLS_JPEGLS_ERRC_NOT_ENOUGH_MEMORY);
		return OHI_NOMEM;
	}
	int st = OHI_CORRUPT;
	charls_jpegls_errc ec = charls_jpegls_decoder_set_source_buffer(dec, data, len);
	if (ec) {
		set_err(err, errlen, "source", ec);
		st = status(ec);
		goto done;
	}
	if ((ec = charls_jpegls_decoder_read_header(dec)) != CHARLS_JPEGLS_ERRC_SUCCESS) {
		set_err(err, errlen, "header", ec);
		st = status(ec);
		goto done;
	}
	charls_frame_info fi;
	charls_interleave_mode ilv;
	int32_t near = 0;
	if ((ec = charls_jpegls_decoder_get_frame_info(dec, &fi)) != CHARLS_JPEGLS_ERRC_SUCCESS ||
	    (ec = charls_jpegls_decoder_get_interleave_mode(dec, &ilv)) != CHARLS_JPEGLS_ERRC_SUCCESS ||
	    (ec = charls_jpegls_decoder_get_near_lossless(dec, 0, &near)) != CHARLS_JPEGLS_ERRC_SUCCESS) {
		set_err(err, errlen, "header", ec);
		st = status(ec);
		goto done;
	}
	info->width = fi.width;
	info->height = fi.height;
	info->components = fi.component_count > 0 ? (uint32_t)fi.component_count : 0;
	info->bits_per_sample = fi.bits_per_sample > 0 ? (uint32_t)fi.bits_per_sample : 0;
	info->interleave = (int32_t)ilv;
	info->near = near;
	if (fi.width != want_w || fi.height != want_h || info->components != want_comps ||
	    info->bits_per_sample < 2 || info->bits_per_sample > want_bits) {
		set_err(err, errlen, "the stream does not match the image attributes", CHARLS_JPEGLS_ERRC_SUCCESS);
		st = OHI_CORRUPT;
		goto done;
	}
	size_t need = 0;
	if ((ec = charls_jpegls_decoder_get_destination_size(dec, 0, &need)) != CHARLS_JPEGLS_ERRC_SUCCESS) {
		set_err(err, errlen, "destination size", ec);
		st = status(ec);
		goto done;
	}
	if (need != out_len) {
		set_err(err, errlen, "the decoded size differs from the image attributes", CHARLS_JPEGLS_ERRC_SUCCESS);
		st = OHI_CORRUPT;
		goto done;
	}
	if ((ec = charls_jpegls_decoder_decode_to_buffer(dec, out, out_len, 0)) != CHARLS_JPEGLS_ERRC_SUCCESS) {
		set_err(err, errlen, "decode", ec);
		st = status(ec);
		goto done;
	}
	st = OHI_OK;
done:
	charls_jpegls_decoder_destroy(dec);
	return st;
}
