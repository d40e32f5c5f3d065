package importer

// CodecSlotsHeld reports how many of im's codec slots are taken.
func CodecSlotsHeld(im *Importer) int { return im.codecSlots().inUse() }
