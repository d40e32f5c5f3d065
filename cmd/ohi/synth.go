package main

import "errors"

// SynthCmd writes synthetic DICOM studies. (Placeholder.)
type SynthCmd struct{}

// Run is a placeholder.
func (SynthCmd) Run() error { return errors.New("synth: not implemented yet") }
