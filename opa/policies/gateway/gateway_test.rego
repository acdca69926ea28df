package mcp.gateway_test

import data.mcp.gateway

# 2026-11-23 is a Monday; 10:00 UTC is inside the default business hours.
monday_10 := "2026-11-23T10:00:00Z"

monday_20 := "2026-11-23T20:00:00Z"

server := {
	"id": "s-1",
	"name": "postgres-mcp",
	"registered": true,
	"sensitivity_level": "medium",
	"owner": "u-7",
	"team": "payments",
	"tags": ["db"],
	"status": "active",
}

tool(level) := {
	"name": "run_query",
	"registered": true,
	"sensitivity_level": level,
	"requires_approval": false,
	"annotations": {},
}

subject(role) := {
	"id": "u-42",
	"type": "user",
	"role": role,
	"teams": ["search"],
	"attributes": {},
	"acting_for": null,
}

agent(role, trust) := {
	"id": "agent:a-1",
	"type": "agent",
	"role": role,
	"teams": ["search"],
	"attributes": {"trust_level": trust},
	"acting_for": "u-1",
}

context(t, approval) := {
	"time": t,
	"ip": "10.0.0.5",
	"request_id": "req-1",
	"approval_id": approval,
	"gateway": {"request_id": "gw-1"},
}

request(subj, action, level) := {
	"subject": subj,
	"action": action,
	"resource": {"server": server, "tool": tool(level)},
	"parameters": {"query": "select 1"},
	"context": context(monday_10, "apr-1"),
}

invoke(subj, level) := request(subj, "gateway:tool:invoke", level)

patched(base, patch) := object.union(base, patch)

# Replaces the whole resource (object.union would merge it).
with_resource(req, res) := object.union(object.remove(req, ["resource"]), {"resource": res})

decide(req) := d if {
	d := gateway.decision with input as req
}

reason(req) := decide(req).reason

# ---------------------------------------------------------------------------
# Invocation follows the 1.0 role x sensitivity model
# ---------------------------------------------------------------------------

invoke_matrix := {
	"admin": ["allowed_by_role", "allowed_by_role", "allowed_by_role", "allowed_by_role"],
	"security_admin": ["allowed_by_role", "allowed_by_role", "insufficient_role_for_sensitivity", "insufficient_role_for_sensitivity"],
	"team_lead": ["allowed_by_role", "allowed_by_role", "insufficient_role_for_sensitivity", "insufficient_role_for_sensitivity"],
	"developer": ["allowed_by_role", "allowed_by_role", "insufficient_role_for_sensitivity", "insufficient_role_for_sensitivity"],
	"service": ["allowed_by_role", "allowed_by_role", "insufficient_role_for_sensitivity", "insufficient_role_for_sensitivity"],
	"viewer": ["action_not_permitted", "action_not_permitted", "action_not_permitted", "action_not_permitted"],
}

levels := ["low", "medium", "high", "critical"]

test_invoke_matrix if {
	every role, row in invoke_matrix {
		every i, want in row {
			d := decide(invoke(subject(role), levels[i]))
			d.reason == want
			d.allow == startswith(want, "allowed_")
		}
	}
}

test_team_and_owner_grants if {
	lead := patched(subject("team_lead"), {"teams": ["payments"]})
	reason(invoke(lead, "critical")) == "allowed_for_own_team"
	owner := patched(subject("developer"), {"id": "u-7"})
	reason(invoke(owner, "high")) == "allowed_as_owner"
	reason(invoke(owner, "critical")) == "insufficient_role_for_sensitivity"
}

test_deny_shape if {
	d := decide(invoke(subject("viewer"), "low"))
	d.allow == false
	d.filtered_parameters == {}
	d.obligations == []
}

# ---------------------------------------------------------------------------
# Each check of reason_order
# ---------------------------------------------------------------------------

test_unknown_action if {
	reason(request(subject("admin"), "tool:invoke", "low")) == "unknown_action"
	reason(request(subject("admin"), 7, "low")) == "unknown_action"
}

test_unknown_role if {
	reason(invoke(subject("root"), "low")) == "unknown_role"
	reason(invoke(object.remove(subject("admin"), ["role"]), "low")) == "unknown_role"
}

test_unknown_trust_level_for_agents if {
	reason(invoke(agent("developer", "godlike"), "low")) == "unknown_trust_level"
	reason(invoke(patched(agent("developer", "x"), {"attributes": {}}), "low")) == "unknown_trust_level"
	reason(invoke(patched(agent("developer", "x"), {"attributes": {"trust_level": 3}}), "low")) == "unknown_trust_level"
}

test_missing_server if {
	req := patched(invoke(subject("admin"), "low"), {"resource": {"server": null, "tool": tool("low")}})
	reason(req) == "missing_server"
	info := with_resource(request(subject("admin"), "gateway:server:info", "low"), {})
	reason(info) == "missing_server"
}

test_unknown_server if {
	req := patched(invoke(subject("admin"), "low"), {"resource": {"server": {"name": "x", "registered": false}, "tool": tool("low")}})
	reason(req) == "unknown_server"
}

test_missing_tool_only_for_invoke if {
	req := with_resource(invoke(subject("admin"), "low"), {"server": server})
	reason(req) == "missing_tool"
	discover := with_resource(request(subject("developer"), "gateway:tool:discover", "low"), {"server": server})
	reason(discover) == "allowed_by_role"
}

test_unknown_tool if {
	req := patched(invoke(subject("admin"), "low"), {"resource": {"server": server, "tool": {"name": "t", "registered": false}}})
	reason(req) == "unknown_tool"
}

test_allow_unregistered_uses_configured_level if {
	req := patched(invoke(subject("developer"), "low"), {"resource": {"server": {"name": "x", "registered": false}, "tool": {"name": "t", "registered": false, "sensitivity_level": "low"}}})
	reason(req) == "unknown_server"
	reason(req) == "allowed_by_role" with data.data.mcp.gateway.allow_unregistered as true with data.data.mcp.gateway.unregistered_sensitivity as "low"
	reason(req) == "insufficient_role_for_sensitivity" with data.data.mcp.gateway.allow_unregistered as true
}

test_server_inactive if {
	req := patched(invoke(subject("admin"), "low"), {"resource": {"server": patched(server, {"status": "disabled"}), "tool": tool("low")}})
	reason(req) == "server_inactive"
	info := patched(request(subject("admin"), "gateway:server:info", "low"), {"resource": {"server": patched(server, {"status": "disabled"})}})
	reason(info) == "allowed_by_role"
}

test_unknown_sensitivity if {
	reason(invoke(subject("admin"), "HIGH")) == "unknown_sensitivity"
}

test_server_level_falls_back_to_server_sensitivity if {
	bare_tool := object.remove(tool("low"), ["sensitivity_level"])
	no_level := with_resource(invoke(subject("developer"), "low"), {"server": server, "tool": bare_tool})
	reason(no_level) == "allowed_by_role"
	high_server := with_resource(no_level, {"server": patched(server, {"sensitivity_level": "high"}), "tool": bare_tool})
	reason(high_server) == "insufficient_role_for_sensitivity"
}

test_agent_trust_bounds_sensitivity if {
	reason(invoke(agent("admin", "trusted"), "high")) == "allowed_by_role"
	reason(invoke(agent("admin", "verified"), "high")) == "agent_trust_insufficient"
	reason(invoke(agent("admin", "verified"), "medium")) == "allowed_by_role"
	reason(invoke(agent("admin", "untrusted"), "medium")) == "agent_trust_insufficient"
	reason(invoke(agent("admin", "untrusted"), "low")) == "allowed_by_role"
}

test_agent_trust_does_not_limit_discovery if {
	reason(request(agent("developer", "untrusted"), "gateway:tool:discover", "high")) == "allowed_by_role"
}

test_approval_required if {
	req := patched(invoke(subject("admin"), "critical"), {"context": {"approval_id": null}})
	reason(req) == "approval_required"
	flagged := patched(invoke(subject("developer"), "low"), {"resource": {"server": server, "tool": patched(tool("low"), {"requires_approval": true})}, "context": {"approval_id": ""}})
	reason(flagged) == "approval_required"
	reason(invoke(subject("admin"), "critical")) == "allowed_by_role"
}

test_outside_business_hours if {
	owner := patched(subject("developer"), {"id": "u-7"})
	late := patched(invoke(owner, "high"), {"context": {"time": monday_20}})
	reason(late) == "outside_business_hours"
	reason(patched(late, {"subject": subject("admin")})) == "allowed_by_role"
	reason(patched(invoke(owner, "high"), {"context": {"time": "2026-11-23 10:00:00Z"}})) == "outside_business_hours"
	reason(patched(invoke(owner, "high"), {"context": {"time": "2026-02-30T10:00:00Z"}})) == "outside_business_hours"
	reason(patched(invoke(owner, "high"), {"context": {"time": 5}})) == "outside_business_hours"
	reason(invoke(owner, "high")) == "allowed_as_owner"
}

test_hours_follow_the_authz_tunables if {
	owner := patched(subject("developer"), {"id": "u-7"})
	late := patched(invoke(owner, "high"), {"context": {"time": monday_20}})
	reason(late) == "allowed_as_owner" with data.data.mcp.authz.business_hours.end_hour as 24
}

test_deny_order_is_first_failed if {
	req := patched(invoke(subject("viewer"), "critical"), {"context": {"approval_id": null, "time": monday_20}})
	reason(req) == "action_not_permitted"
}

# ---------------------------------------------------------------------------
# Discovery, listing, info, resources, prompts, audit
# ---------------------------------------------------------------------------

test_listing_hides_critical_from_outsiders if {
	reason(request(subject("viewer"), "gateway:server:list", "high")) == "allowed_by_role"
	reason(request(subject("viewer"), "gateway:server:list", "critical")) == "insufficient_role_for_sensitivity"
	reason(request(patched(subject("viewer"), {"teams": ["payments"]}), "gateway:server:list", "critical")) == "allowed_for_own_team"
	reason(request(patched(subject("developer"), {"id": "u-7"}), "gateway:tool:discover", "critical")) == "allowed_as_owner"
	reason(request(subject("security_admin"), "gateway:server:info", "critical")) == "allowed_by_role"
}

test_resources_and_prompts_are_like_invocation if {
	reason(request(subject("developer"), "gateway:resource:read", "medium")) == "allowed_by_role"
	reason(request(subject("developer"), "gateway:prompt:get", "high")) == "insufficient_role_for_sensitivity"
	reason(request(subject("viewer"), "gateway:prompt:get", "low")) == "action_not_permitted"
}

test_audit_access if {
	write := {"subject": subject("service"), "action": "gateway:audit:write", "resource": {}, "parameters": {}, "context": {}}
	reason(write) == "allowed_by_role"
	reason(patched(write, {"subject": subject("developer")})) == "action_not_permitted"
	read := patched(write, {"action": "gateway:audit:read", "subject": subject("security_admin")})
	reason(read) == "allowed_by_role"
	reason(patched(read, {"subject": subject("service")})) == "action_not_permitted"
}

# ---------------------------------------------------------------------------
# Parameter filtering
# ---------------------------------------------------------------------------

secret_params := {"query": "q", "Password": "p", "nested": {"token": "t", "rows": [{"api_key": "k"}]}, "ssn": "1"}

test_high_tools_lose_secrets_for_non_admins if {
	owner := patched(subject("developer"), {"id": "u-7"})
	d := decide(patched(invoke(owner, "high"), {"parameters": secret_params}))
	d.allow
	d.filtered_parameters == {"query": "q", "nested": {"rows": [{}]}, "ssn": "1"}
	d.obligations == [{"type": "redacted_parameters", "paths": ["/Password", "/nested/rows/0/api_key", "/nested/token"]}]
}

test_critical_tools_lose_more if {
	lead := patched(subject("team_lead"), {"teams": ["payments"]})
	d := decide(patched(invoke(lead, "critical"), {"parameters": secret_params}))
	d.filtered_parameters == {"query": "q", "nested": {"rows": [{}]}}
}

test_admin_keeps_parameters_but_agents_do_not if {
	d := decide(patched(invoke(subject("admin"), "high"), {"parameters": secret_params}))
	d.filtered_parameters == secret_params
	d.obligations == []
	a := decide(patched(invoke(agent("admin", "trusted"), "high"), {"parameters": secret_params}))
	a.allow
	a.filtered_parameters == {"query": "q", "nested": {"rows": [{}]}, "ssn": "1"}
}

test_low_tools_keep_parameters if {
	d := decide(patched(invoke(subject("developer"), "low"), {"parameters": secret_params}))
	d.filtered_parameters == secret_params
}

test_non_object_parameters_become_empty if {
	d := decide(patched(invoke(subject("developer"), "low"), {"parameters": [1, 2]}))
	d.allow
	d.filtered_parameters == {}
}

test_default_decision_is_a_deny if {
	d := gateway.decision with input as {} with data.data.mcp.gateway.permissions as {"x": []}
	d.allow == false
}

test_unregistered_server_alone_gets_configured_level if {
	info := with_resource(request(subject("viewer"), "gateway:server:info", "low"), {"server": {"name": "x", "registered": false, "sensitivity_level": "low"}})
	reason(info) == "unknown_server"
	reason(info) == "allowed_by_role" with data.data.mcp.gateway.allow_unregistered as true
	reason(info) == "insufficient_role_for_sensitivity" with data.data.mcp.gateway.allow_unregistered as true with data.data.mcp.gateway.unregistered_sensitivity as "critical"
}

test_removed_value_reported_once if {
	owner := patched(subject("developer"), {"id": "u-7"})
	d := decide(patched(invoke(owner, "high"), {"parameters": {"credentials": {"token": "t"}, "a": 1}}))
	d.filtered_parameters == {"a": 1, "query": "select 1"}
	d.obligations == [{"type": "redacted_parameters", "paths": ["/credentials"]}]
}
