# METADATA
# title: SARK agent-to-agent authorization policy
# description: >-
#   Decides whether an agent (the subject, from its verified agent token) may
#   execute, query or delegate to a target agent. Evaluate
#   `data.mcp.gateway.a2a.decision`; rules, reason codes and tunables in
#   docs/gateway-integration/POLICIES.md.
package mcp.gateway.a2a

import data.data.mcp.authz as model
import data.data.mcp.gateway.a2a as config

import data.mcp.authz

default decision := {
	"allow": false,
	"reason": "no_rule_matched",
	"filtered_parameters": {},
	"obligations": [],
}

decision := {
	"allow": false,
	"reason": deny_reason,
	"filtered_parameters": {},
	"obligations": [],
} if deny_reason

decision := {
	"allow": true,
	"reason": "allowed_by_trust_level",
	"filtered_parameters": filtered_parameters,
	"obligations": obligations,
} if not deny_reason

reason_order := [
	"unknown_action",
	"not_an_agent",
	"unknown_trust_level",
	"missing_target",
	"unknown_target_trust_level",
	"unknown_server",
	"unknown_tool",
	"capability_not_granted",
	"insufficient_trust_level",
	"cross_environment_untrusted",
	"production_protected",
	"delegation_too_deep",
	"missing_originating_user",
]

deny_reason := [r | some r in reason_order; r in failed][0]

# ---------------------------------------------------------------------------
# Checks, in reason_order
# ---------------------------------------------------------------------------

failed contains "unknown_action" if not action_rule

failed contains "not_an_agent" if not is_agent

failed contains "unknown_trust_level" if not source_rank

failed contains "missing_target" if not target

# A target that states a trust level must state a known one.
failed contains "unknown_target_trust_level" if {
	target
	target_declares_trust
	not target_rank
}

failed contains "unknown_server" if {
	server
	not server_registered
}

failed contains "unknown_tool" if {
	tool
	not tool_registered
}

failed contains "capability_not_granted" if not capability_granted

failed contains "insufficient_trust_level" if {
	source_rank
	not trust_sufficient
}

# Isolation: low-trust agents never leave their environment.
failed contains "cross_environment_untrusted" if {
	not same_environment
	source_trust in config.environment_isolation.cross_environment_denied_trust_levels
}

# Production protected: only some trust levels reach a protected environment
# from another one, and (when configured) only a target SARK verified.
failed contains "production_protected" if {
	target_protected
	not same_environment
	not may_enter_protected
}

failed contains "production_protected" if {
	target_protected
	config.protected_environments.require_verified_target == true
	not target_verified
}

failed contains "delegation_too_deep" if delegation_depth > config.max_delegation_depth

# A delegated call must name the user it ultimately acts for.
failed contains "missing_originating_user" if {
	config.require_originating_user_for_delegation == true
	delegation_depth > 0
	not originating_user
}

# ---------------------------------------------------------------------------
# Facts
# ---------------------------------------------------------------------------

action_rule := config.capabilities[input.action] if is_string(input.action)

is_agent if input.subject.type == "agent"

agent := input.subject.attributes if is_object(input.subject.attributes)

target := input.context.target_agent if is_object(input.context.target_agent)

server := input.resource.server if is_object(input.resource.server)

tool := input.resource.tool if is_object(input.resource.tool)

server_registered if server.registered == true

tool_registered if tool.registered == true

trust_rank[level] := i if some i, level in config.trust_levels

source_trust := agent.trust_level if is_string(agent.trust_level)

source_rank := trust_rank[source_trust]

target_declares_trust if target.trust_level != null

target_rank := trust_rank[target.trust_level] if is_string(target.trust_level)

capability_granted if {
	is_array(agent.capabilities)
	action_rule.capability in agent.capabilities
}

trust_sufficient if source_rank >= trust_rank[action_rule.min_trust]

same_environment if {
	is_string(agent.environment)
	agent.environment == target.environment
}

target_protected if target.environment in config.protected_environments.environments

target_verified if target.verified == true

may_enter_protected if source_trust in config.protected_environments.trust_levels

# The agents the request already went through, before the subject.
chain := agent.delegation_chain if is_array(agent.delegation_chain)

default chain_length := 0

chain_length := count(chain)

# Delegating hands the call on once more.
delegation_depth := chain_length + 1 if {
	input.action == "a2a:delegate"
} else := chain_length

originating_user if {
	is_string(input.subject.acting_for)
	input.subject.acting_for != ""
}

# ---------------------------------------------------------------------------
# Parameter filtering: lower trust levels lose the 1.0 sensitive names
# ---------------------------------------------------------------------------

default parameters := {}

parameters := input.parameters if is_object(input.parameters)

level_rank[level] := i if some i, level in model.sensitivity_levels

redacted_names contains lower(name) if {
	source_trust in config.redaction.trust_levels
	some level, names in model.redaction.parameters
	level_rank[level] <= level_rank[config.redaction.sensitivity]
	some name in names
	is_string(name)
}

matched_paths contains path if {
	walk(parameters, [path, _])
	count(path) > 0
	key := path[count(path) - 1]
	is_string(key)
	ascii(key)
	lower(key) in redacted_names
}

# As mcp.authz's `ascii`, defined here because a module may use only the mcp.authz symbols
# every release has: OPA compiles each module as it is pushed, beside the others'
# versions (docs/policies.md, constraint 10).
ascii(s) if count(hex.encode(s)) == 2 * count(s)

removed_paths contains path if {
	some path in matched_paths
	not inside_matched(path)
}

inside_matched(path) if {
	some outer in matched_paths
	count(outer) < count(path)
	array.slice(path, 0, count(outer)) == outer
}

filtered_parameters := json.remove(parameters, [authz.string_segments(p) | some p in removed_paths])

default obligations := []

obligations := [{
	"type": "redacted_parameters",
	"paths": sort([authz.json_pointer(p) | some p in removed_paths]),
}] if count(removed_paths) > 0
