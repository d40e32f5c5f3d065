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

// SetTestHook makes im call fn at the named points of an import ("list",
// "parse", "frame", "override", "group", "output"), with the file's key,
// path or SOP instance UID where there is one, so that a test can make
// them panic.
func SetTestHook(im *Importer, fn func(point, key string)) { im.testHook = fn }
