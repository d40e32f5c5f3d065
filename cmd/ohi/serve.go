package main

import "errors"

// ServeCmd runs the API server. (Placeholder.)
type ServeCmd struct{}

// Run is a placeholder.
func (ServeCmd) Run() error { return errors.New("serve: not implemented yet") }
