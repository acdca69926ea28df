# METADATA
# title: SARK gateway authorization policy
# description: >-
#   Decides MCP gateway requests (tool invocation, discovery, server info,
#   resources, prompts) and gateway audit access. Evaluate
#   `data.mcp.gateway.decision`; rules, reason codes and tunables in
#   docs/gateway-integration/POLICIES.md.
package mcp.gateway

# Gateway tunables: opa/data/mcp/gateway/data.json. The role and sensitivity
# model, approval, business hours and redaction lists are the 1.0 ones, read
# from the authz data so both packages always agree (ADR 1 for the path).
import data.data.mcp.authz as model
import data.data.mcp.gateway as config

# Pure helpers of the 1.0 package (time pattern, JSON pointers).
import data.mcp.authz

# ---------------------------------------------------------------------------
# Decision
# ---------------------------------------------------------------------------

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
	"reason": granted_by,
	"filtered_parameters": filtered_parameters,
	"obligations": obligations,
} if {
	not deny_reason
	granted_by
}

reason_order := [
	"unknown_action",
	"unknown_role",
	"unknown_trust_level",
	"missing_server",
	"unknown_server",
	"missing_tool",
	"unknown_tool",
	"server_inactive",
	"unknown_sensitivity",
	"action_not_permitted",
	"insufficient_role_for_sensitivity",
	"agent_trust_insufficient",
	"approval_required",
	"outside_business_hours",
]

deny_reason := [r | some r in reason_order; r in failed][0]

# ---------------------------------------------------------------------------
# Checks, in reason_order
# ---------------------------------------------------------------------------

failed contains "unknown_action" if not permissions

failed contains "unknown_role" if not role

# Agents carry a trust level (from their verified token); it bounds what they
# may reach, so an agent without a known one is denied.
failed contains "unknown_trust_level" if {
	is_agent
	not agent_max_sensitivity
}

failed contains "missing_server" if {
	input.action in server_actions
	not server
}

failed contains "unknown_server" if {
	server
	not server_known
}

failed contains "missing_tool" if {
	input.action == "gateway:tool:invoke"
	not tool
}

failed contains "unknown_tool" if {
	tool
	not tool_known
}

failed contains "server_inactive" if {
	input.action in config.invoke_actions
	server_registered
	not server_active
}

failed contains "unknown_sensitivity" if {
	input.action in server_actions
	not sensitivity
}

failed contains "action_not_permitted" if count(applicable_grants) == 0

failed contains "insufficient_role_for_sensitivity" if {
	count(applicable_grants) > 0
	not granted_by
}

failed contains "agent_trust_insufficient" if {
	is_agent
	input.action in config.invoke_actions
	not agent_covers
}

failed contains "approval_required" if {
	input.action in config.invoke_actions
	approval_needed
	not has_approval
}

failed contains "outside_business_hours" if {
	input.action in config.invoke_actions
	sensitivity in model.business_hours.sensitivities
	not exempt_from_business_hours
	not within_business_hours
}

# ---------------------------------------------------------------------------
# Subject, action and resource facts
# ---------------------------------------------------------------------------

server_actions := {
	"gateway:tool:invoke",
	"gateway:tool:discover",
	"gateway:server:list",
	"gateway:server:info",
	"gateway:resource:read",
	"gateway:prompt:get",
}

permissions := config.permissions[input.action]

role := input.subject.role if {
	is_string(input.subject.role)
	input.subject.role in model.roles
}

is_agent if input.subject.type == "agent"

server := input.resource.server if is_object(input.resource.server)

tool := input.resource.tool if is_object(input.resource.tool)

server_registered if server.registered == true

server_active if server.status in config.active_server_statuses

server_known if server_registered

server_known if allow_unregistered

tool_registered if tool.registered == true

tool_known if tool_registered

tool_known if allow_unregistered

allow_unregistered if config.allow_unregistered == true

own_team if {
	is_string(server.team)
	is_array(input.subject.teams)
	server.team in input.subject.teams
}

is_owner if {
	is_string(input.subject.id)
	input.subject.id != ""
	input.subject.id == server.owner
}

# ---------------------------------------------------------------------------
# Sensitivity (the 1.0 levels)
# ---------------------------------------------------------------------------

sensitivity_rank[level] := i if some i, level in model.sensitivity_levels

sensitivity := level if {
	level := declared_sensitivity
	sensitivity_rank[level]
}

declared_sensitivity := config.unregistered_sensitivity if {
	tool
	not tool_registered
} else := tool.sensitivity_level if {
	tool.sensitivity_level != null
} else := config.unregistered_sensitivity if {
	not server_registered
	server
} else := server.sensitivity_level if {
	server.sensitivity_level != null
}

# ---------------------------------------------------------------------------
# Grants
# ---------------------------------------------------------------------------

applicable_grants := [g | some g in permissions; applies(g)]

applies(g) if {
	g.basis == "role"
	role in g.roles
}

applies(g) if {
	g.basis == "team"
	role in g.roles
	own_team
}

applies(g) if {
	g.basis == "owner"
	role in g.roles
	is_owner
}

covers(g) if not g.max_sensitivity

covers(g) if sensitivity_rank[g.max_sensitivity] >= sensitivity_rank[sensitivity]

basis_reason := {
	"role": "allowed_by_role",
	"team": "allowed_for_own_team",
	"owner": "allowed_as_owner",
}

granted_by := [basis_reason[g.basis] | some g in applicable_grants; covers(g)][0]

# ---------------------------------------------------------------------------
# Agents: the trust level of the token bounds the sensitivity reached
# ---------------------------------------------------------------------------

agent_max_sensitivity := config.agents.max_sensitivity[input.subject.attributes.trust_level] if {
	is_string(input.subject.attributes.trust_level)
}

agent_covers if sensitivity_rank[agent_max_sensitivity] >= sensitivity_rank[sensitivity]

# ---------------------------------------------------------------------------
# Approval and business hours (1.0 tunables)
# ---------------------------------------------------------------------------

exempt_from_business_hours if role in model.business_hours.exempt_roles

approval_needed if sensitivity in model.approval.sensitivities

approval_needed if tool.requires_approval == true

has_approval if {
	is_string(input.context.approval_id)
	input.context.approval_id != ""
}

within_business_hours if {
	hours := model.business_hours
	[hour, _, _] := time.clock([request_time_ns, hours.time_zone])
	hour >= hours.start_hour
	hour < hours.end_hour
	time.weekday([request_time_ns, hours.time_zone]) in hours.weekdays
}

# Same strict parsing as mcp.authz (docs/policies.md, OPA and regorus). The pattern is
# read by its full path: through the `authz` alias regorus would compile a lookup of the
# whole package (ADR 4). Only mcp.authz symbols every release has are used from here
# (docs/policies.md, constraint 10).
request_time_ns := time.parse_rfc3339_ns(input.context.time) if {
	is_string(input.context.time)
	regex.match(data.mcp.authz.rfc3339_pattern, input.context.time)
	authz.valid_calendar_day(input.context.time)
}

# ---------------------------------------------------------------------------
# Parameter filtering (1.0 redaction lists, by the effective sensitivity)
# ---------------------------------------------------------------------------

default parameters := {}

parameters := input.parameters if is_object(input.parameters)

redacted_names contains lower(name) if {
	not exempt_from_redaction
	some level, names in model.redaction.parameters
	sensitivity_rank[level] <= sensitivity_rank[sensitivity]
	some name in names
	is_string(name)
}

exempt_from_redaction if {
	role in model.redaction.exempt_roles
	not is_agent
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
