package config

import (
	"net"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Cluster configures cluster mode: several tollgate nodes sharing
// counters, blocks and kill switches through Redis and records through
// PostgreSQL. Without a cluster section a node runs embedded (in-process
// counters, SQLite).
type Cluster struct {
	// Enabled switches cluster mode on (true when the section is present
	// and not explicitly disabled).
	Enabled bool `yaml:"enabled"`
	// Node names this node in logs, metrics and decisions (default:
	// server.node, else the host name).
	Node     string       `yaml:"node"`
	Redis    ClusterRedis `yaml:"redis"`
	Postgres ClusterPG    `yaml:"postgres"`
	// Detectors says how CDRs reach the detectors across nodes.
	Detectors ClusterDetect `yaml:"detectors"`
}

// ClusterDetect configures the shared CDR stream: every node publishes the
// CDRs and refused attempts it sees to a Redis Stream per partition
// (tenants hashed over Partitions); each partition is read by the one node
// holding its lease, through a consumer group, so each record reaches the
// detectors once. A dead node's partitions move after LeaseMS and its
// unacknowledged entries are claimed once idle for ClaimIdleMS.
type ClusterDetect struct {
	// Partitions (default 16) must be the same on every node and fixed
	// for the life of the streams.
	Partitions int `yaml:"partitions"`
	// LeaseMS is how long a partition stays with a node that stopped
	// renewing it (default 5000).
	LeaseMS Millis `yaml:"lease_ms"`
	// ClaimIdleMS is the idle time after which another node claims an
	// entry a dead node read but never acknowledged (default lease_ms).
	ClaimIdleMS Millis `yaml:"claim_idle_ms"`
	// RetainS keeps entries this long (default 3600); a node taking a
	// partition over replays this much to rebuild the detectors' windows.
	RetainS Seconds `yaml:"retain_s"`
	// Queue bounds records waiting to be published while Redis is slow or
	// away (default 65536); beyond it they are counted as dropped.
	Queue int `yaml:"queue"`
}

// ClusterRedis says how to reach Redis. Exactly one of Addr (a single
// server), Sentinels (with MasterName) or ClusterAddrs (Redis Cluster).
type ClusterRedis struct {
	Addr         string   `yaml:"addr"`
	Sentinels    []string `yaml:"sentinels"`
	MasterName   string   `yaml:"master_name"`
	ClusterAddrs []string `yaml:"cluster_addrs"`
	// PasswordEnv names the environment variable holding the password
	// (never the password itself).
	PasswordEnv string `yaml:"password_env"`
	// Password is read from PasswordEnv.
	Password Secret `yaml:"-"`
	DB       int    `yaml:"db"`
	// Prefix starts every key (default "tg"): several deployments can
	// share one Redis.
	Prefix string `yaml:"prefix"`
	// TimeoutMS bounds one call (default 250); beyond it a decision is
	// made on local counts and the tenant's on_error applies.
	TimeoutMS Millis `yaml:"timeout_ms"`
}

// ClusterPG says how to reach PostgreSQL.
type ClusterPG struct {
	// DSNEnv names the environment variable holding the connection string
	// (postgres://user:password@host/db): secrets never in the file.
	DSNEnv string `yaml:"dsn_env"`
	// DSN is read from DSNEnv.
	DSN Secret `yaml:"-"`
	// SpoolDir holds records that could not be written while PostgreSQL
	// was away (default <data_dir>/spool): decisions and call events in
	// records.jsonl, reputation writes (bans, entries, lockouts, honeypot
	// events) in reputation.jsonl.
	SpoolDir string `yaml:"spool_dir"`
	// SpoolMaxMB bounds each of the two spool files (default 1024);
	// beyond it screening fails over to on_error rather than lose records
	// silently, and reputation writes are refused, counted and logged.
	SpoolMaxMB int `yaml:"spool_max_mb"`
	// RetentionDays keeps decisions and call events (default 400; 0 keeps
	// all); AuditRetentionYears keeps the audit log (default 7).
	RetentionDays       Days `yaml:"retention_days"`
	AuditRetentionYears int  `yaml:"audit_retention_years"`
	// MaxConns bounds the node's one connection pool, which every
	// PostgreSQL store of the node shares (default 0: four per CPU core,
	// at least 8, or the connection string's pool_max_conns when larger).
	// Nodes × max_conns must stay below the server's max_connections.
	MaxConns int `yaml:"max_conns"`
}

// cluster decodes and checks the cluster section.
func (p *parser) cluster(c *Cluster, n *yaml.Node) {
	if n.Kind == 0 {
		return
	}
	c.Enabled = true
	p.decodeStrict(n, "cluster", c)
	ln := map[string]int{}
	lines(n, "cluster", ln)
	at := func(f string) int {
		if l, ok := ln[f]; ok {
			return l
		}
		return n.Line
	}
	if !c.Enabled {
		return
	}
	r := &c.Redis
	ways := 0
	if r.Addr != "" {
		ways++
		p.hostPort(at("cluster.redis.addr"), "cluster.redis.addr", r.Addr)
	}
	if len(r.Sentinels) > 0 {
		ways++
		for _, a := range r.Sentinels {
			p.hostPort(at("cluster.redis.sentinels"), "cluster.redis.sentinels", a)
		}
		if r.MasterName == "" {
			p.errorf(at("cluster.redis.sentinels"), "cluster.redis.master_name", "required with sentinels")
		}
	} else if r.MasterName != "" {
		p.errorf(at("cluster.redis.master_name"), "cluster.redis.master_name", "only with sentinels")
	}
	if len(r.ClusterAddrs) > 0 {
		ways++
		for _, a := range r.ClusterAddrs {
			p.hostPort(at("cluster.redis.cluster_addrs"), "cluster.redis.cluster_addrs", a)
		}
	}
	if ways != 1 {
		p.errorf(at("cluster.redis"), "cluster.redis", "want exactly one of addr, sentinels (with master_name) or cluster_addrs")
	}
	if r.PasswordEnv != "" && !envName(r.PasswordEnv) {
		p.errorf(at("cluster.redis.password_env"), "cluster.redis.password_env", "want an environment variable name (the password itself never goes in the file)")
	}
	if r.DB < 0 || r.DB > 15 || (r.DB != 0 && len(r.ClusterAddrs) > 0) {
		p.errorf(at("cluster.redis.db"), "cluster.redis.db", "want 0 to 15 (always 0 in Redis Cluster)")
	}
	if r.Prefix == "" {
		r.Prefix = "tg"
	} else if strings.ContainsAny(r.Prefix, "{}*?[] \t\r\n") || len(r.Prefix) > 32 {
		p.errorf(at("cluster.redis.prefix"), "cluster.redis.prefix", "want at most 32 characters without braces, globs or spaces")
	}
	if r.TimeoutMS == 0 {
		r.TimeoutMS = 250
	} else if r.TimeoutMS < 10 || r.TimeoutMS > 10000 {
		p.errorf(at("cluster.redis.timeout_ms"), "cluster.redis.timeout_ms", "want 10 to 10000")
	}
	g := &c.Postgres
	if g.DSNEnv == "" {
		p.errorf(at("cluster.postgres"), "cluster.postgres.dsn_env", "required: the environment variable holding the PostgreSQL connection string")
	} else if !envName(g.DSNEnv) {
		p.errorf(at("cluster.postgres.dsn_env"), "cluster.postgres.dsn_env", "want an environment variable name, not a connection string (secrets never go in the file)")
	}
	if g.SpoolMaxMB == 0 {
		g.SpoolMaxMB = 1024
	} else if g.SpoolMaxMB < 1 || g.SpoolMaxMB > 1<<20 {
		p.errorf(at("cluster.postgres.spool_max_mb"), "cluster.postgres.spool_max_mb", "want 1 to 1048576")
	}
	if g.RetentionDays < 0 || g.RetentionDays > 36500 {
		p.errorf(at("cluster.postgres.retention_days"), "cluster.postgres.retention_days", "want 0 (keep all) to 36500")
	} else if _, set := ln["cluster.postgres.retention_days"]; !set {
		g.RetentionDays = 400
	}
	if g.AuditRetentionYears == 0 {
		if _, set := ln["cluster.postgres.audit_retention_years"]; !set {
			g.AuditRetentionYears = 7
		}
	}
	if g.AuditRetentionYears < 0 || (g.AuditRetentionYears > 0 && g.AuditRetentionYears < 7) || g.AuditRetentionYears > 100 {
		p.errorf(at("cluster.postgres.audit_retention_years"), "cluster.postgres.audit_retention_years", "want 0 (keep all) or 7 to 100: the audit log is kept at least seven years")
	}
	if g.MaxConns != 0 && (g.MaxConns < 4 || g.MaxConns > 10000) {
		p.errorf(at("cluster.postgres.max_conns"), "cluster.postgres.max_conns", "want 4 to 10000 (0: four per CPU core, at least 8)")
	}
	c.Detectors.check(p, at)
	if c.Node != "" && !validName(c.Node) {
		p.errorf(at("cluster.node"), "cluster.node", "node names are letters, digits, '-', '_' and '.' (at most 64)")
	}
}

func (p *parser) hostPort(line int, field, v string) {
	h, port, err := net.SplitHostPort(v)
	if err != nil || h == "" || port == "" {
		p.errorf(line, field, "want host:port, got %q", v)
	}
}

// envName reports whether s looks like an environment variable name.
func envName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func (d *ClusterDetect) check(p *parser, at func(string) int) {
	def := func(v *int, dflt, lo, hi int, field, msg string) {
		if *v == 0 {
			*v = dflt
		} else if *v < lo || *v > hi {
			p.errorf(at(field), field, "%s", msg)
		}
	}
	def(&d.Partitions, 16, 1, 1024, "cluster.detectors.partitions", "want 1 to 1024 (the same on every node)")
	def((*int)(&d.LeaseMS), 5000, 500, 600000, "cluster.detectors.lease_ms", "want 500 to 600000")
	def((*int)(&d.ClaimIdleMS), int(d.LeaseMS), 100, 600000, "cluster.detectors.claim_idle_ms", "want 100 to 600000")
	def((*int)(&d.RetainS), 3600, 60, 7*86400, "cluster.detectors.retain_s", "want 60 to 604800")
	def(&d.Queue, 65536, 16, 1<<24, "cluster.detectors.queue", "want 16 to 16777216")
	if d.RetainS.Duration() < 2*d.LeaseMS.Duration() {
		p.errorf(at("cluster.detectors.retain_s"), "cluster.detectors.retain_s", "keep entries at least twice lease_ms, or a hand-over can miss them")
	}
}

// NodeName is this node's name, computed from the configuration and never
// written back into it: in cluster mode cluster.node, else server.node,
// else the host name; in embedded mode server.node (possibly empty).
func (c *Config) NodeName() string {
	if !c.Cluster.Enabled {
		return c.Server.Node
	}
	if c.Cluster.Node != "" {
		return c.Cluster.Node
	}
	if c.Server.Node != "" {
		return c.Server.Node
	}
	h, _ := os.Hostname()
	return h
}
