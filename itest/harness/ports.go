package harness

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
)

// Ports are drawn below the kernel's ephemeral range (32768-60999 by
// default on Linux), so that no outgoing connection takes a node's port
// while the node is down between a stop and its restart.
const (
	minPort = 20000
	maxPort = 32000
)

var ports struct {
	mu       sync.Mutex
	assigned map[int]bool
}

// FreePort returns a loopback TCP port that nothing listens on now and
// that this test binary has not handed out before.
func FreePort() (int, error) {
	ports.mu.Lock()
	defer ports.mu.Unlock()
	if ports.assigned == nil {
		ports.assigned = map[int]bool{}
	}
	for range 200 {
		port := minPort + rand.IntN(maxPort-minPort)
		if ports.assigned[port] {
			continue
		}
		ln, err := net.Listen("tcp", loopbackAddr(port))
		if err != nil {
			continue
		}
		_ = ln.Close()
		ports.assigned[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("no free loopback port in %d-%d after 200 tries", minPort, maxPort)
}

func loopbackAddr(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}
