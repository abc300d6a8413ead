//! VNGCloud API emulator (filled by the vngcloud-emulator work).
