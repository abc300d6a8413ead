// Command etcd is the etcd server (go.etcd.io/etcd/server/v3/etcdmain) at the version
// k8s.io/kubernetes pins in this module, built for the tests' real control plane.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"

	"github.com/vlb/tools/control-plane/internal/parentwatch"
)

func main() {
	parentwatch.Start()
	etcdmain.Main(os.Args)
}
