--[[
Storalloc for Slurm's burst_buffer/lua plugin (see doc/slurm.md).

A job asks for storage with a directive in its batch script:

    #BB_LUA pool=storalloc capacity=200G

Slurm calls the functions below at each step of the job's life; each one runs the
Storalloc client in JSON mode and reads its answer. The logic (sizes, refusals, leases)
stays in Storalloc: this file only translates.

Settings come from slurmctld's environment:
  STORALLOC_CLIENT     the client command (default: storalloc-client)
  STORALLOC_CONF       the client's config file (default: found as the client finds it)
  STORALLOC_BB_STATE   directory for the Slurm job -> Storalloc job map
                       (default: /var/spool/storalloc-bb)
  STORALLOC_BB_SLACK   seconds added to the job's time limit for the lease (default: 300)
  STORALLOC_BB_TIME    lease length for jobs without a time limit (default: 1-00:00:00)
--]]

local CLIENT = os.getenv("STORALLOC_CLIENT") or "storalloc-client"
local STATE_DIR = os.getenv("STORALLOC_BB_STATE") or "/var/spool/storalloc-bb"
local SLACK = tonumber(os.getenv("STORALLOC_BB_SLACK") or "300")
local NO_LIMIT = os.getenv("STORALLOC_BB_TIME") or "1-00:00:00"
local POOL = "storalloc"

local function quote(text)
	return "'" .. string.gsub(tostring(text), "'", "'\\''") .. "'"
end

-- Run a shell command; return its exit status and its output (stdout and stderr).
-- Lua 5.1's popen cannot report the status, so the shell prints it last.
local function shell(command)
	local pipe = io.popen(command .. " 2>&1; echo \"storalloc-exit=$?\"")
	local out = pipe:read("*a")
	pipe:close()
	local status = tonumber(string.match(out, "storalloc%-exit=(%d+)%s*$")) or 1
	return status, string.gsub(out, "storalloc%-exit=%d+%s*$", "")
end

local function client(args, env)
	return shell((env or "") .. CLIENT .. " --json " .. args)
end

-- Storalloc's reason from the client's output: the refusal's reason, else its error line.
local function reason(out)
	return string.match(out, '"reason": "(.-)"[,}]')
		or string.match(out, "storalloc: error: ([^\n]*)")
		or string.gsub(out, "%s+$", "")
end

-- The capacity asked for by the job's storalloc directive, or nil when it has none.
local function requested(job_script)
	local file = io.open(job_script, "r")
	if not file then
		return nil
	end
	local capacity = nil
	for line in file:lines() do
		if string.match(line, "^#BB_LUA") and string.match(line .. " ", "pool=" .. POOL .. "%s") then
			capacity = string.match(line, "capacity=(%S+)") or ""
		end
	end
	file:close()
	return capacity
end

local function state_file(job_id)
	return STATE_DIR .. "/" .. job_id .. ".json"
end

local function read_grant(job_id)
	local file = io.open(state_file(job_id), "r")
	if not file then
		return nil
	end
	local grant = file:read("*a")
	file:close()
	return grant
end

-- "D-HH:MM:SS", "HH:MM:SS", "MM:SS" or minutes (squeue's %l) -> seconds; nil if none.
local function seconds(limit)
	local d, rest = string.match(limit, "^(%d+)%-(.+)$")
	local parts = {}
	for n in string.gmatch(rest or limit, "%d+") do
		table.insert(parts, tonumber(n))
	end
	if #parts == 0 then
		return nil
	end
	local total = 0
	if #parts == 1 and not d then
		total = parts[1] * 60
	else
		while #parts < 3 do
			table.insert(parts, 1, 0)
		end
		total = parts[1] * 3600 + parts[2] * 60 + parts[3]
	end
	return total + (tonumber(d) or 0) * 86400
end

local function lease_minutes(job_id)
	local _, limit = shell("squeue -h -j " .. quote(job_id) .. " -o %l")
	local secs = seconds(string.match(limit, "^%s*(%S+)") or "") or seconds(NO_LIMIT)
	return math.ceil((secs + SLACK) / 60)
end

-- At submit (synchronous, in slurmctld): reject what can never fit, with Storalloc's reason.
function slurm_bb_job_process(job_script)
	local capacity = requested(job_script)
	if capacity == nil then
		return slurm.SUCCESS
	end
	if capacity == "" then
		return slurm.ERROR, "storalloc: #BB_LUA pool=storalloc needs capacity=SIZE"
	end
	local status, out = client("--test-only -t 1 -s " .. quote(capacity))
	if status ~= 0 then
		return slurm.ERROR, "storalloc: " .. reason(out)
	end
	return slurm.SUCCESS
end

-- The pool Slurm accounts against: the site's capacity, in bytes (GB are decimal).
function slurm_bb_pools()
	local status, out = client("--nodes")
	if status ~= 0 then
		return slurm.ERROR, "storalloc: " .. reason(out)
	end
	local total = 0
	for gb in string.gmatch(out, '"capacity_gb": ([%d%.eE%+%-]+)') do
		total = total + tonumber(gb)
	end
	return slurm.SUCCESS, string.format(
		'{"pools": [{"id": "%s", "quantity": %.0f, "granularity": 1}]}', POOL, total * 1e9)
end

-- Before the job starts: book the lease for its time limit (plus slack), from now.
function slurm_bb_setup(job_id, uid, gid, pool, bb_size, job_script)
	local capacity = requested(job_script)
	if capacity == nil or read_grant(job_id) then
		return slurm.SUCCESS
	end
	local _, user = shell("getent passwd " .. quote(uid) .. " | cut -d: -f1")
	user = string.match(user, "^(%S+)") or ("uid" .. uid)
	local args = "-s " .. quote(capacity) .. " -t " .. lease_minutes(job_id)
	local status, out = client(args, "STORALLOC_USER=" .. quote(user) .. " ")
	local grant = string.match(out, '[^\n]*"event": "granted"[^\n]*')
	if status ~= 0 or not grant then
		return slurm.ERROR, "storalloc: " .. reason(out)
	end
	os.execute("mkdir -p " .. quote(STATE_DIR))
	local file = io.open(state_file(job_id), "w")
	file:write(grant, "\n")
	file:close()
	slurm.log_info("storalloc: Slurm job %s holds Storalloc job %s", job_id,
		string.match(grant, '"job_id": (%d+)'))
	return slurm.SUCCESS
end

-- The job's environment: its Storalloc job id and NQNs.
function slurm_bb_paths(job_id, job_script, path_file)
	local grant = read_grant(job_id)
	if not grant then
		return slurm.SUCCESS
	end
	local nqns = {}
	for nqn in string.gmatch(grant, '"nqn": "([^"]+)"') do
		table.insert(nqns, nqn)
	end
	local file = io.open(path_file, "a")
	file:write("STORALLOC_JOB_ID=", string.match(grant, '"job_id": (%d+)'), "\n")
	file:write("STORALLOC_NQNS=", table.concat(nqns, ","), "\n")
	file:close()
	return slurm.SUCCESS
end

-- After the job (or when it is cancelled): release the lease. Idempotent: a lease already
-- gone, or never booked, is success.
function slurm_bb_job_teardown(job_id, job_script, hurry)
	local grant = read_grant(job_id)
	if not grant then
		return slurm.SUCCESS
	end
	local status, out = client("--release " .. string.match(grant, '"job_id": (%d+)'))
	if status ~= 0 and not string.find(out, "has already ended", 1, true) then
		return slurm.ERROR, "storalloc: " .. reason(out)
	end
	os.remove(state_file(job_id))
	return slurm.SUCCESS
end

-- slurm_bb_pre_run and slurm_bb_post_run run on the slurmctld host in this plugin, not on
-- the compute nodes, so they cannot attach there; jobs attach with `storalloc-client`.
function slurm_bb_pre_run(job_id, job_script)
	return slurm.SUCCESS
end

function slurm_bb_post_run(job_id, job_script)
	return slurm.SUCCESS
end

function slurm_bb_data_in(job_id, job_script)
	return slurm.SUCCESS
end

function slurm_bb_data_out(job_id, job_script)
	return slurm.SUCCESS
end

function slurm_bb_real_size(job_id)
	return slurm.SUCCESS
end

-- `scontrol show bbstat`: Storalloc's own listing.
function slurm_bb_get_status(uid, gid, ...)
	local _, out = shell(CLIENT .. " --list")
	return slurm.SUCCESS, out
end
