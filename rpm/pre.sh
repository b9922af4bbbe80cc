# %pre — $1 is 1 on first installation, 2 or more on upgrade.
# An upgrade from the previous agent (the Python aops-agent, v1.x), whose package has no socket
# unit: its aops-agent.service (Type=exec, enabled in multi-user.target) is running and holds the
# port. Remember that for %posttrans, which moves the host to the socket once the old package's
# own scriptlets have run.
if [ "$1" -ge 2 ] && [ ! -e /usr/lib/systemd/system/aops-agent.socket ]; then
    mkdir -p /var/lib/rpm-state/aops-agent
    : >/var/lib/rpm-state/aops-agent/from-previous-agent
fi
exit 0
