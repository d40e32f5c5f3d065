package importer

import "context"

// CodecSlotsHeld reports how many of im's codec slots are taken.
func CodecSlotsHeld(im *Importer) int { return im.codecSlots().inUse() }

// LeakCodecSlots takes n of im's codec slots for good, as the bug fixed in
// transcode once did.
func LeakCodecSlots(im *Importer, n int) {
	for range n {
		if _, err := im.codecSlots().acquire(context.Background()); err != nil {
			panic(err)
		}
	}
}

// StuckReaders reports the readers of files the watchdog failed that are
// still running.
func StuckReaders(im *Importer) int { return int(im.stuckReaders.Load()) }
