//go:build docker

package deploy

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/claybridge/claybridge/config"
	"github.com/claybridge/claybridge/internal/client"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/subjects"
)

// imageName is the tag the test builds deploy/Dockerfile under.
const imageName = "claybridge-docker-test:dev"

// TestContainersServeARequest builds the image, starts the three NATS
// nodes of docker-compose.yml with nats/nats.conf, claysim and one
// claybridge replica with the compose command line, sends a request as
// the client user, and stops claybridge with SIGTERM. It needs a Docker
// engine and skips without one.
func TestContainersServeARequest(t *testing.T) {
	skipWithoutDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	project := loadProject(t, composeFile)
	passwords := map[string]string{
		"NATS_CLAYBRIDGE_PASSWORD": project.Environment["NATS_CLAYBRIDGE_PASSWORD"],
		"NATS_CLIENT_PASSWORD":     project.Environment["NATS_CLIENT_PASSWORD"],
	}

	nw, err := network.New(ctx)
	if err != nil {
		t.Fatalf("create network: %v", err)
	}
	testcontainers.CleanupNetwork(t, nw)

	var natsNodes []*testcontainers.DockerContainer
	for _, name := range natsServices(project) {
		env := map[string]string{"NATS_SERVER_NAME": name}
		for k, v := range passwords {
			env[k] = v
		}
		node, err := testcontainers.Run(ctx, project.Services[name].Image,
			network.WithNetwork([]string{name}, nw),
			testcontainers.WithEnv(env),
			testcontainers.WithFiles(testcontainers.ContainerFile{HostFilePath: "nats/nats.conf",
				ContainerFilePath: "/etc/nats/nats.conf", FileMode: 0o444}),
			testcontainers.WithCmd("--config", "/etc/nats/nats.conf"),
			testcontainers.WithExposedPorts("4222/tcp", "8222/tcp"),
			testcontainers.WithWaitStrategy(wait.ForListeningPort("4222/tcp")),
		)
		testcontainers.CleanupContainer(t, node)
		if err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		natsNodes = append(natsNodes, node)
	}
	for _, node := range natsNodes {
		endpoint, err := node.PortEndpoint(ctx, "8222/tcp", "http")
		if err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 2*time.Minute, "JetStream on every NATS node", func() bool {
			return httpOK(endpoint + "/healthz?js-enabled-only=true")
		})
	}

	sim := project.Services["claysim"]
	simContainer, err := testcontainers.Run(ctx, "",
		testcontainers.WithDockerfile(testcontainers.FromDockerfile{Context: "..", Dockerfile: "deploy/Dockerfile",
			Repo: strings.Split(imageName, ":")[0], Tag: strings.Split(imageName, ":")[1], KeepImage: true}),
		network.WithNetwork([]string{"claysim"}, nw),
		testcontainers.WithCmd(sim.Command...),
		testcontainers.WithExposedPorts("8089/tcp"),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/_sim/stats").WithPort("8089/tcp")),
	)
	testcontainers.CleanupContainer(t, simContainer)
	if err != nil {
		t.Fatalf("build the image and start claysim: %v", err)
	}

	replica := claybridgeServices(project)[0]
	bridge, err := testcontainers.Run(ctx, imageName,
		network.WithNetwork([]string{replica.Name}, nw),
		testcontainers.WithCmd(replica.Command...),
		testcontainers.WithFiles(testcontainers.ContainerFile{
			Reader:            strings.NewReader(passwords["NATS_CLAYBRIDGE_PASSWORD"]),
			ContainerFilePath: "/run/secrets/nats_claybridge_password", FileMode: 0o444,
		}),
		testcontainers.WithExposedPorts("8080/tcp"),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/readyz").WithPort("8080/tcp").WithStartupTimeout(3*time.Minute)),
	)
	testcontainers.CleanupContainer(t, bridge)
	if err != nil {
		t.Fatalf("start %s: %v", replica.Name, err)
	}

	natsEndpoint, err := natsNodes[0].PortEndpoint(ctx, "4222/tcp", "nats")
	if err != nil {
		t.Fatal(err)
	}
	nc, err := client.Connect(config.NATS{URL: natsEndpoint, User: "client",
		Password: config.NewSecret(passwords["NATS_CLIENT_PASSWORD"])}, "docker test")
	if err != nil {
		t.Fatalf("connect as the client user: %v", err)
	}
	defer nc.Close()
	js := testenv.JetStream(t, nc)
	req := client.Request{Priority: subjects.Normal, Operation: subjects.Row, ID: "docker-row",
		Body: []byte(`{"table":"leads","row":{"email":"lea.vogt@example.org"}}`)}
	pub, err := client.Publish(ctx, js, req)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	awaitCtx, awaitCancel := context.WithTimeout(ctx, time.Minute)
	defer awaitCancel()
	out, err := client.Await(awaitCtx, js, req.Operation, pub.Key)
	if err != nil {
		t.Fatalf("await the result: %v", err)
	}
	if out.Kind != client.KindResult {
		t.Errorf("request ended in the DLQ: %+v", out.Failure())
	}

	// The image's HEALTHCHECK runs "claybridge probe" inside the container.
	testenv.Eventually(t, 2*time.Minute, "Docker to report claybridge healthy", func() bool {
		state, err := bridge.State(ctx)
		return err == nil && state.Health != nil && state.Health.Status == "healthy"
	})

	stopTimeout := time.Duration(*replica.StopGracePeriod)
	if err := bridge.Stop(ctx, &stopTimeout); err != nil {
		t.Fatalf("stop claybridge: %v", err)
	}
	state, err := bridge.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if state.ExitCode != 0 {
		t.Errorf("claybridge exited with status %d after SIGTERM, want 0", state.ExitCode)
	}
}

// skipWithoutDocker skips the test when no Docker engine responds.
func skipWithoutDocker(t *testing.T) {
	t.Helper()
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%v", r)
			}
		}()
		provider, err := testcontainers.ProviderDefault.GetProvider()
		if err != nil {
			return err
		}
		defer provider.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return provider.Health(ctx)
	}()
	if err != nil {
		t.Skipf("no Docker engine is reachable, so the container tests do not run: %v", err)
	}
}

func httpOK(target string) bool {
	resp, err := http.Get(target)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
