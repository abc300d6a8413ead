//! VNGCloud REST client of the vlb operator (filled by the cloud-adapter work).
