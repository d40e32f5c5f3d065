package main

import "errors"

// WorkflowCmd groups the Arazzo workflow commands. (Placeholder: the engine
// lands in arazzo/.)
type WorkflowCmd struct {
	Run workflowRunCmd `cmd:"" help:"Run a workflow."`
}

type workflowRunCmd struct{}

// Run is a placeholder.
func (workflowRunCmd) Run() error { return errors.New("workflow: not implemented yet") }
