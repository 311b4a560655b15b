package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// clusterName names every test cluster.
const clusterName = "itest"

// NATSNode is one nats-server process with JetStream, listening on
// loopback ports that stay the same across restarts, with its store
// directory kept across restarts too.
type NATSNode struct {
	// Name is the server name, as JetStream reports leaders.
	Name        string
	ClientPort  int
	ClusterPort int
	MonitorPort int
	dir         string
	proc        *Process
}

// URL returns the node's client URL.
func (n *NATSNode) URL() string { return "nats://" + loopbackAddr(n.ClientPort) }

// MonitorURL returns the base URL of the node's monitoring endpoints.
func (n *NATSNode) MonitorURL() string { return "http://" + loopbackAddr(n.MonitorPort) }

// Process returns the node's process.
func (n *NATSNode) Process() *Process { return n.proc }

// Start starts the node and waits until it reports healthy.
func (n *NATSNode) Start(ctx context.Context) error {
	if err := n.proc.Start(); err != nil {
		return err
	}
	return n.WaitHealthy(ctx)
}

// Stop stops the node with SIGTERM, which nats-server handles as a clean
// shutdown.
func (n *NATSNode) Stop() error { return n.proc.Stop(30 * time.Second) }

// Kill kills the node with SIGKILL.
func (n *NATSNode) Kill() error { return n.proc.Kill() }

// WaitHealthy polls /healthz until it returns 200: the server runs,
// JetStream is enabled, and in a cluster the meta leader is known and
// the node's streams and consumers are current.
func (n *NATSNode) WaitHealthy(ctx context.Context) error {
	url := n.MonitorURL() + "/healthz"
	err := poll(ctx, 100*time.Millisecond, func() (bool, error) {
		if !n.proc.Running() {
			return false, fmt.Errorf("nats-server %s exited", n.Name)
		}
		return httpStatus(ctx, url) == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("wait for nats-server %s to be healthy: %w\n%s", n.Name, err, n.proc.LogTail(20))
	}
	return nil
}

// metaLeader fetches /jsz and returns the meta group leader, empty for a
// single server or while there is none.
func (n *NATSNode) metaLeader(ctx context.Context) (string, error) {
	var jsz struct {
		Meta *struct {
			Leader string `json:"leader"`
			Size   int    `json:"cluster_size"`
		} `json:"meta_cluster"`
	}
	if err := getJSON(ctx, n.MonitorURL()+"/jsz", &jsz); err != nil {
		return "", err
	}
	if jsz.Meta == nil {
		return "", nil
	}
	return jsz.Meta.Leader, nil
}

// Cluster is a set of NATS nodes: one server, or a JetStream cluster of
// several with routes between them on loopback.
type Cluster struct {
	Nodes []*NATSNode
}

// newCluster writes the configuration of size nodes under dir and
// returns them, not yet started.
func newCluster(size int, natsServer, dir string) (*Cluster, error) {
	c := &Cluster{}
	for i := range size {
		n := &NATSNode{Name: fmt.Sprintf("n%d", i+1), dir: filepath.Join(dir, fmt.Sprintf("n%d", i+1))}
		for _, port := range []*int{&n.ClientPort, &n.ClusterPort, &n.MonitorPort} {
			p, err := FreePort()
			if err != nil {
				return nil, err
			}
			*port = p
		}
		c.Nodes = append(c.Nodes, n)
	}
	for _, n := range c.Nodes {
		if err := os.MkdirAll(n.dir, 0o755); err != nil {
			return nil, err
		}
		conf := filepath.Join(n.dir, "nats-server.conf")
		if err := os.WriteFile(conf, []byte(c.config(n)), 0o644); err != nil {
			return nil, err
		}
		n.proc = newProcess("nats-"+n.Name, natsServer, []string{"-c", conf}, os.Environ(),
			filepath.Join(dir, "nats-"+n.Name+".log"))
	}
	return c, nil
}

// config returns the nats-server configuration of n.
func (c *Cluster) config(n *NATSNode) string {
	var b strings.Builder
	fmt.Fprintf(&b, "server_name: %s\n", n.Name)
	fmt.Fprintf(&b, "listen: %q\n", loopbackAddr(n.ClientPort))
	fmt.Fprintf(&b, "http: %q\n", loopbackAddr(n.MonitorPort))
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n}\n", filepath.Join(n.dir, "jetstream"))
	if len(c.Nodes) > 1 {
		var routes []string
		for _, peer := range c.Nodes {
			routes = append(routes, fmt.Sprintf("%q", "nats-route://"+loopbackAddr(peer.ClusterPort)))
		}
		fmt.Fprintf(&b, "cluster {\n  name: %s\n  listen: %q\n  routes: [%s]\n}\n",
			clusterName, loopbackAddr(n.ClusterPort), strings.Join(routes, ", "))
	}
	return b.String()
}

// URLs returns the client URLs of every node, comma-separated, as
// --nats-url takes them.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		urls[i] = n.URL()
	}
	return strings.Join(urls, ",")
}

// Node returns the node named name, or nil.
func (c *Cluster) Node(name string) *NATSNode {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// start starts every node and waits until all are healthy.
func (c *Cluster) start(ctx context.Context) error {
	for _, n := range c.Nodes {
		if err := n.proc.Start(); err != nil {
			return err
		}
	}
	return c.WaitHealthy(ctx)
}

// WaitHealthy waits until every running node is healthy and, in a
// cluster, a running node reports a meta leader that is running too.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	for _, n := range c.Nodes {
		if n.proc.Running() {
			if err := n.WaitHealthy(ctx); err != nil {
				return err
			}
		}
	}
	if len(c.Nodes) == 1 {
		return nil
	}
	_, err := c.MetaLeader(ctx)
	return err
}

// MetaLeader waits until a running node reports a meta leader that is
// itself running, and returns it.
func (c *Cluster) MetaLeader(ctx context.Context) (*NATSNode, error) {
	if len(c.Nodes) == 1 {
		return c.Nodes[0], nil
	}
	var leader *NATSNode
	err := poll(ctx, 100*time.Millisecond, func() (bool, error) {
		for _, n := range c.Nodes {
			if !n.proc.Running() {
				continue
			}
			name, err := n.metaLeader(ctx)
			if err != nil || name == "" {
				continue
			}
			if l := c.Node(name); l != nil && l.proc.Running() {
				leader = l
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("find the meta leader: %w", err)
	}
	return leader, nil
}

// errUnknownLeader is returned when JetStream names a leader that is not
// a node of the cluster.
var errUnknownLeader = errors.New("leader is not a node of this cluster")

// nodeNamed returns the node called name or errUnknownLeader.
func (c *Cluster) nodeNamed(name string) (*NATSNode, error) {
	if n := c.Node(name); n != nil {
		return n, nil
	}
	return nil, fmt.Errorf("%w: %q", errUnknownLeader, name)
}

// poll calls cond every interval until it returns true or an error, or
// ctx ends.
func poll(ctx context.Context, interval time.Duration, cond func() (bool, error)) error {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-ticker.C:
		}
	}
}

var monitorClient = &http.Client{Timeout: 5 * time.Second}

// httpStatus returns the status of a GET of url, or 0 when it failed.
func httpStatus(ctx context.Context, url string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	resp, err := monitorClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := monitorClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// OtherMetaLeader waits until a running node other than old leads the
// meta group, such as after old was killed, and returns it.
func (c *Cluster) OtherMetaLeader(ctx context.Context, old *NATSNode) (*NATSNode, error) {
	var leader *NATSNode
	err := poll(ctx, 100*time.Millisecond, func() (bool, error) {
		l, err := c.MetaLeader(ctx)
		if err != nil {
			return false, err
		}
		if l != old {
			leader = l
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("wait for a new meta leader: %w", err)
	}
	return leader, nil
}
