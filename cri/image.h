/* Internal to cri/: what the image handlers share. */
#ifndef CRIO_CRI_IMAGE_H
#define CRIO_CRI_IMAGE_H

#include "cri/internal.h"
#include "images/images.h"
#include "store/store.h"

/* The CRI Image of a READY record, its names and pinned flag; in the
 * request's arena. */
Runtime__V1__Image *cri_image_view(struct cri_request *req, const store_record *rec,
                                   const struct img_names *names, bool pinned);
/* ImageStatus' verbose info["info"]: the config, layers and reference, as
 * JSON text in the arena. */
char *cri_image_verbose_info(struct cri_request *req, const store_record *rec);

/* ImageSpec.image, required: EINVAL naming `field` when empty. */
int cri_image_spec_text(const Runtime__V1__ImageSpec *spec, const char *field, const char **out,
                        crio_error_t *err);

/* PullImage's checks of the request alone (the image reference parses, the
 * runtime handler is configured); *image: the reference text. */
int cri_pull_image_request_validate(const Runtime__V1__PullImageRequest *in,
                                    const struct cri_config *cfg, const char **image,
                                    crio_error_t *err);

#endif
