package mcp.gateway.a2a_test

import data.mcp.gateway.a2a

source(trust, env, caps, chain) := {
	"id": "agent:a-1",
	"type": "agent",
	"role": "service",
	"teams": [],
	"attributes": {
		"agent_id": "a-1",
		"agent_type": "assistant",
		"trust_level": trust,
		"capabilities": caps,
		"environment": env,
		"delegation_chain": chain,
	},
	"acting_for": "u-1",
}

target(trust, env, verified) := {
	"id": "a-2",
	"type": "worker",
	"trust_level": trust,
	"environment": env,
	"verified": verified,
}

all_caps := ["execute", "query", "delegate"]

call(subj, action, tgt) := {
	"subject": subj,
	"action": action,
	"resource": {},
	"parameters": {"q": "x", "password": "p"},
	"context": {"time": "2026-11-23T10:00:00Z", "target_agent": tgt},
}

trusted := source("trusted", "staging", all_caps, [])

staging_target := target("verified", "staging", true)

patched(base, patch) := object.union(base, patch)

decide(req) := d if {
	d := a2a.decision with input as req
}

reason(req) := decide(req).reason

test_trusted_agent_may_do_everything_in_its_environment if {
	every action in ["a2a:execute", "a2a:query", "a2a:delegate"] {
		reason(call(trusted, action, staging_target)) == "allowed_by_trust_level"
	}
}

test_unknown_action if {
	reason(call(trusted, "a2a:destroy", staging_target)) == "unknown_action"
	reason(call(trusted, null, staging_target)) == "unknown_action"
}

test_not_an_agent if {
	user := patched(trusted, {"type": "user"})
	reason(call(user, "a2a:query", staging_target)) == "not_an_agent"
}

test_unknown_trust_level if {
	reason(call(source("root", "staging", all_caps, []), "a2a:query", staging_target)) == "unknown_trust_level"
	reason(call(source(1, "staging", all_caps, []), "a2a:query", staging_target)) == "unknown_trust_level"
	no_attrs := patched(trusted, {"attributes": null})
	reason(call(no_attrs, "a2a:query", staging_target)) == "unknown_trust_level"
}

test_missing_target if {
	reason(call(trusted, "a2a:query", null)) == "missing_target"
	reason(call(trusted, "a2a:query", "a-2")) == "missing_target"
}

test_unknown_target_trust_level if {
	reason(call(trusted, "a2a:query", target("godlike", "staging", true))) == "unknown_target_trust_level"
	reason(call(trusted, "a2a:query", object.remove(staging_target, ["trust_level"]))) == "allowed_by_trust_level"
}

test_unknown_server_and_tool if {
	req := patched(call(trusted, "a2a:execute", staging_target), {"resource": {"server": {"name": "x", "registered": false}}})
	reason(req) == "unknown_server"
	tool_req := patched(call(trusted, "a2a:execute", staging_target), {"resource": {"server": {"name": "x", "registered": true}, "tool": {"name": "t", "registered": false}}})
	reason(tool_req) == "unknown_tool"
	ok := patched(call(trusted, "a2a:execute", staging_target), {"resource": {"server": {"name": "x", "registered": true}, "tool": {"name": "t", "registered": true}}})
	reason(ok) == "allowed_by_trust_level"
}

test_capability_not_granted if {
	query_only := source("trusted", "staging", ["query"], [])
	reason(call(query_only, "a2a:execute", staging_target)) == "capability_not_granted"
	reason(call(query_only, "a2a:query", staging_target)) == "allowed_by_trust_level"
	reason(call(source("trusted", "staging", "execute", []), "a2a:execute", staging_target)) == "capability_not_granted"
}

test_trust_level_per_capability if {
	verified := source("verified", "staging", all_caps, [])
	reason(call(verified, "a2a:execute", staging_target)) == "allowed_by_trust_level"
	reason(call(verified, "a2a:delegate", staging_target)) == "insufficient_trust_level"
	untrusted := source("untrusted", "staging", all_caps, [])
	reason(call(untrusted, "a2a:query", staging_target)) == "allowed_by_trust_level"
	reason(call(untrusted, "a2a:execute", staging_target)) == "insufficient_trust_level"
}

test_untrusted_agents_stay_in_their_environment if {
	untrusted := source("untrusted", "staging", all_caps, [])
	reason(call(untrusted, "a2a:query", target("verified", "development", true))) == "cross_environment_untrusted"
	reason(call(untrusted, "a2a:query", object.remove(staging_target, ["environment"]))) == "cross_environment_untrusted"
	verified := source("verified", "staging", all_caps, [])
	reason(call(verified, "a2a:query", target("verified", "development", true))) == "allowed_by_trust_level"
}

test_production_is_protected if {
	prod := target("trusted", "production", true)
	reason(call(source("verified", "staging", all_caps, []), "a2a:query", prod)) == "production_protected"
	reason(call(source("trusted", "staging", all_caps, []), "a2a:query", prod)) == "allowed_by_trust_level"
	reason(call(source("verified", "production", all_caps, []), "a2a:query", prod)) == "allowed_by_trust_level"
	unverified := target("trusted", "production", false)
	reason(call(source("trusted", "production", all_caps, []), "a2a:query", unverified)) == "production_protected"
	reason(call(source("trusted", "production", all_caps, []), "a2a:query", unverified)) == "allowed_by_trust_level" with data.data.mcp.gateway.a2a.protected_environments.require_verified_target as false
}

test_delegation_depth_from_data if {
	reason(call(source("trusted", "staging", all_caps, ["a", "b", "c"]), "a2a:query", staging_target)) == "allowed_by_trust_level"
	reason(call(source("trusted", "staging", all_caps, ["a", "b", "c"]), "a2a:delegate", staging_target)) == "delegation_too_deep"
	reason(call(source("trusted", "staging", all_caps, ["a", "b", "c", "d"]), "a2a:query", staging_target)) == "delegation_too_deep"
	reason(call(source("trusted", "staging", all_caps, ["a"]), "a2a:delegate", staging_target)) == "delegation_too_deep" with data.data.mcp.gateway.a2a.max_delegation_depth as 1
}

test_delegated_calls_need_the_originating_user if {
	delegated := patched(source("trusted", "staging", all_caps, ["a"]), {"acting_for": null})
	reason(call(delegated, "a2a:query", staging_target)) == "missing_originating_user"
	reason(call(patched(trusted, {"acting_for": null}), "a2a:delegate", staging_target)) == "missing_originating_user"
	reason(call(patched(trusted, {"acting_for": null}), "a2a:query", staging_target)) == "allowed_by_trust_level"
	reason(call(delegated, "a2a:query", staging_target)) == "allowed_by_trust_level" with data.data.mcp.gateway.a2a.require_originating_user_for_delegation as false
}

test_lower_trust_loses_sensitive_parameters if {
	d := decide(call(source("verified", "staging", all_caps, []), "a2a:query", staging_target))
	d.filtered_parameters == {"q": "x"}
	d.obligations == [{"type": "redacted_parameters", "paths": ["/password"]}]
	t := decide(call(trusted, "a2a:query", staging_target))
	t.filtered_parameters == {"q": "x", "password": "p"}
	t.obligations == []
}

test_deny_shape_and_order if {
	d := decide(call(source("untrusted", "staging", ["query"], []), "a2a:delegate", target("x", "production", false)))
	d.allow == false
	d.reason == "unknown_target_trust_level"
	d.filtered_parameters == {}
	d.obligations == []
}

test_nested_and_non_object_parameters if {
	verified := source("verified", "staging", all_caps, [])
	nested := patched(call(verified, "a2a:query", staging_target), {"parameters": {"credentials": {"token": "t"}, "a": 1}})
	d := decide(object.union(object.remove(nested, ["parameters"]), {"parameters": {"credentials": {"token": "t"}, "a": 1}}))
	d.filtered_parameters == {"a": 1}
	d.obligations == [{"type": "redacted_parameters", "paths": ["/credentials"]}]
	listy := object.union(object.remove(nested, ["parameters"]), {"parameters": [1]})
	decide(listy).filtered_parameters == {}
	decide(listy).allow
}
