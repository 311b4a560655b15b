// Package deploy holds what runs claybridge in containers: the Dockerfile,
// docker-compose files with a three-node NATS cluster, Kubernetes
// manifests, the NATS server configuration, and Prometheus and Grafana
// files. Its tests check those files against the code's flags, ports and
// defaults without Docker; tests with the build tag docker start them.
package deploy
