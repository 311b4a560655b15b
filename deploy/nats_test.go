package deploy

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/config"
	"github.com/claybridge/claybridge/fallback"
	"github.com/claybridge/claybridge/internal/client"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/internal/testproc"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

// testMaxPayload is small enough that a search of 200 people is a large
// result, stored in the Object Store.
const testMaxPayload = 32 << 10

// Passwords the test gives nats.conf through the environment.
const (
	testClaybridgePassword = "deploy-test-claybridge-3391"
	testClientPassword     = "deploy-test-client-5027"
)

// natsFromDeployConfig starts one node with deploy/nats/nats.conf on a
// loopback port. The cluster, its routes and the monitoring listener are
// removed, so the node neither listens on other addresses nor dials the
// compose host names.
func natsFromDeployConfig(t *testing.T) string {
	t.Helper()
	t.Setenv("NATS_SERVER_NAME", "deploy-test")
	t.Setenv("NATS_CLAYBRIDGE_PASSWORD", testClaybridgePassword)
	t.Setenv("NATS_CLIENT_PASSWORD", testClientPassword)
	opts, err := server.ProcessConfigFile("nats/nats.conf")
	if err != nil {
		t.Fatalf("nats/nats.conf: %v", err)
	}
	if opts.Cluster.Port == 0 || len(opts.Routes) != 3 {
		t.Errorf("nats/nats.conf: cluster port %d with %d routes, want a cluster of 3", opts.Cluster.Port, len(opts.Routes))
	}
	if !opts.JetStream {
		t.Error("nats/nats.conf does not enable JetStream")
	}
	opts.Cluster, opts.Routes, opts.RoutesStr = server.ClusterOpts{}, nil, ""
	opts.HTTPHost, opts.HTTPPort = "", 0
	// A small max payload sends large results to the Object Store.
	opts.MaxPayload = testMaxPayload
	return testenv.Server(t, opts).ClientURL()
}

// asyncErrors collects the asynchronous errors of connections, where the
// server reports permission violations.
type asyncErrors struct {
	mu   sync.Mutex
	errs []string
}

func (a *asyncErrors) handler(label string) nats.Option {
	return nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.errs = append(a.errs, label+": "+err.Error())
	})
}

func (a *asyncErrors) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.errs...)
}

func connectAs(t *testing.T, url, user, password string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := client.Connect(config.NATS{URL: url, User: user, Password: config.NewSecret(password)}, "deploy test", opts...)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TestNATSPermissionsAllowClaybridge runs the processor as the claybridge
// user and a publisher as the client user of nats/nats.conf through rows,
// searches and DLQ entries, and fails on any permission violation.
func TestNATSPermissionsAllowClaybridge(t *testing.T) {
	url := natsFromDeployConfig(t)
	if _, err := nats.Connect(url); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("connect without credentials: error %v, want %v", err, nats.ErrAuthorization)
	}
	var violations asyncErrors
	service := connectAs(t, url, "claybridge", testClaybridgePassword, violations.handler("claybridge"))
	sim := testenv.Sim(t, claysim.Config{})
	// A small MaxValueBytes sends cached search results to the Object
	// Store, so its permissions are exercised too.
	testproc.Start(t, service, sim.URL(), processor.Config{HeartbeatInterval: 100 * time.Millisecond,
		Cache: fallback.Config{MaxValueBytes: 256}})

	app := connectAs(t, url, "client", testClientPassword, violations.handler("client"))
	js := testenv.JetStream(t, app)
	requests := []struct {
		req  client.Request
		kind client.Kind
	}{
		{client.Request{Priority: subjects.Critical, Operation: subjects.Row, ID: "perm-row",
			Body: []byte(`{"table":"leads","row":{"email":"mara.lind@northwind.example.com"}}`)}, client.KindResult},
		{client.Request{Priority: subjects.Normal, Operation: subjects.Search, ID: "perm-search",
			Body: []byte(`{"source_type":"companies","filters":{"industry":"retail"},"limit":3}`)}, client.KindResult},
		{client.Request{Priority: subjects.Normal, Operation: subjects.Search, ID: "perm-search-cached",
			Body: []byte(`{"source_type":"companies","filters":{"industry":"retail"},"limit":3}`)}, client.KindResult},
		{client.Request{Priority: subjects.Normal, Operation: subjects.Search, ID: largeResultKey,
			Body: []byte(`{"source_type":"people","filters":{"title":"engineer"},"limit":200}`)}, client.KindResult},
		{client.Request{Priority: subjects.Bulk, Operation: subjects.Routine, ID: "perm-invalid",
			Body: []byte(`not json`)}, client.KindDLQ},
	}
	for _, r := range requests {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		pub, err := client.Publish(ctx, js, r.req)
		if err != nil {
			cancel()
			t.Fatalf("publish %s as the client user: %v", r.req.ID, err)
		}
		out, err := client.Await(ctx, js, r.req.Operation, pub.Key)
		cancel()
		if err != nil {
			t.Fatalf("await %s as the client user: %v", r.req.ID, err)
		}
		if out.Kind != r.kind {
			t.Errorf("%s ended as kind %d, want %d", r.req.ID, out.Kind, r.kind)
		}
		if r.req.ID == largeResultKey {
			readLargeResult(t, js, out)
		}
	}
	// Heartbeats run on their own, so wait for a few more of them before
	// reading the violations.
	waitForHeartbeats(t, js, 3)
	if err := service.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := app.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, v := range violations.list() {
		t.Errorf("permission violation: %s", v)
	}
}

// waitForHeartbeats waits until the DLQ stream, which only heartbeats
// reach while no request fails, has stored n more messages.
func waitForHeartbeats(t *testing.T, js jetstream.JetStream, n uint64) {
	t.Helper()
	lastSeq := func() uint64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stream, err := js.Stream(ctx, subjects.StreamDLQ)
		if err != nil {
			t.Fatalf("look up %s: %v", subjects.StreamDLQ, err)
		}
		return stream.CachedInfo().State.LastSeq
	}
	start := lastSeq()
	testenv.Eventually(t, 10*time.Second, "more heartbeats", func() bool { return lastSeq() >= start+n })
}

// largeResultKey is the request whose result is too large for a message.
const largeResultKey = "perm-search-large"

// readLargeResult reads the data of a result stored in the Object Store,
// as a program holding the client user's permissions would.
func readLargeResult(t *testing.T, js jetstream.JetStream, out client.Outcome) {
	t.Helper()
	res, err := out.Result()
	if err != nil {
		t.Fatal(err)
	}
	if res.Ref == "" {
		t.Fatalf("result of %s has no ref, so the Object Store is not exercised; raise the search limit", largeResultKey)
	}
	name, ok := strings.CutPrefix(res.Ref, subjects.ObjectResults+"/")
	if !ok {
		t.Fatalf("result ref %q is not in %s", res.Ref, subjects.ObjectResults)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	store, err := js.ObjectStore(ctx, subjects.ObjectResults)
	if err != nil {
		t.Fatalf("open %s as the client user: %v", subjects.ObjectResults, err)
	}
	data, err := store.GetBytes(ctx, name)
	if err != nil {
		t.Fatalf("read %s from %s as the client user: %v", res.Ref, subjects.ObjectResults, err)
	}
	if len(data) < testMaxPayload/2 {
		t.Errorf("large result data has %d bytes, want at least %d", len(data), testMaxPayload/2)
	}
}

// TestNATSPermissionsDeny checks what each user of nats/nats.conf must
// not do.
func TestNATSPermissionsDeny(t *testing.T) {
	url := natsFromDeployConfig(t)
	var violations asyncErrors
	service := connectAs(t, url, "claybridge", testClaybridgePassword, violations.handler("claybridge"))
	app := connectAs(t, url, "client", testClientPassword, violations.handler("client"))
	denied := []struct {
		nc      *nats.Conn
		label   string
		subject string
	}{
		{service, "claybridge", "$JS.API.STREAM.DELETE." + subjects.StreamRequests},
		{service, "claybridge", "$KV.OTHER_BUCKET.key"},
		{app, "client", subjects.ResultPrefix + ".normal.row"},
		{app, "client", subjects.DLQPrefix + ".normal.row"},
		{app, "client", "$JS.API.STREAM.PURGE." + subjects.StreamRequests},
		{app, "client", "$KV." + subjects.BucketLedger + ".key"},
	}

	for _, d := range denied {
		if err := d.nc.Publish(d.subject, nil); err != nil {
			t.Fatal(err)
		}
		if err := d.nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 5*time.Second, "a violation for every denied publish", func() bool {
		return len(violations.list()) >= len(denied)
	})
	got := strings.Join(violations.list(), "\n")
	for _, d := range denied {
		if !strings.Contains(got, d.label+": nats: permissions violation: Permissions Violation for Publish to \""+d.subject+"\"") {
			t.Errorf("publish by %s to %s was not denied; violations:\n%s", d.label, d.subject, got)
		}
	}

	if _, err := app.SubscribeSync(subjects.RequestSubject(subjects.Normal, subjects.Row)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "the client's subscription to requests to be denied", func() bool {
		return strings.Contains(strings.Join(violations.list(), "\n"), "client: nats: permissions violation: Permissions Violation for Subscription to")
	})

	js := testenv.JetStream(t, service)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "CLAY_TEST_CREATE", Subjects: []string{"clay.test.>"}}); err != nil {
		t.Errorf("claybridge user cannot create a stream: %v", err)
	}
}
