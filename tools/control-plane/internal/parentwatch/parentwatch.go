// Package parentwatch ends the process when the process that started it is gone.
//
// The tests start etcd and kube-apiserver as child processes and stop them when a test ends;
// a test binary killed outright (SIGKILL, a CI timeout) cannot, so with VLB_EXIT_WITH_PARENT=1
// each server polls its parent and exits once it has been re-parented.
package parentwatch

import (
	"fmt"
	"os"
	"time"
)

// Start begins watching when VLB_EXIT_WITH_PARENT=1 is set; otherwise it does nothing.
func Start() {
	if os.Getenv("VLB_EXIT_WITH_PARENT") != "1" {
		return
	}
	parent := os.Getppid()
	go func() {
		for {
			time.Sleep(500 * time.Millisecond)
			if os.Getppid() != parent {
				fmt.Fprintf(os.Stderr, "parent process %d is gone: exiting\n", parent)
				os.Exit(3)
			}
		}
	}()
}
