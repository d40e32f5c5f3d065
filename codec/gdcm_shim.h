// C interface of the GDCM shim (gdcm_shim.cpp), used for the legacy
// encapsulated transfer syntaxes (JPEG, JPEG-LS, JPEG 2000). Every function
// catches all C++ exceptions.
#ifndef OHI_GDCM_SHIM_H
#define OHI_GDCM_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ohi_gdcm_image describes the frame as the DICOM attributes declare it.
typedef struct {
	uint32_t rows, columns, samples, bits_allocated, bits_stored, pixel_representation, planar;
	const char *photometric;
	const char *transfer_syntax;
} ohi_gdcm_image;

// ohi_gdcm_decode decodes one encapsulated frame (one codestream) into out,
// which must be exactly the decoded size GDCM computes from img (rows *
// columns * samples * bits_allocated/8); otherwise nothing is decoded. On
// success *planar_out is the planar configuration of the output and
// pi_out (pi_len bytes) the photometric interpretation GDCM reports.
int ohi_gdcm_decode(const ohi_gdcm_image *img, const uint8_t *data, size_t len,
                    uint8_t *out, size_t out_len, uint32_t *planar_out,
                    char *pi_out, size_t pi_len, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
