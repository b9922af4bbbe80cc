# %posttrans — runs once the whole transaction is done, after the replaced package's scriptlets.
token=/etc/aops/agent_token.json
state=/var/lib/rpm-state/aops-agent/from-previous-agent

if [ -e "$state" ]; then
    # The previous agent's enablement (multi-user.target.wants/aops-agent.service) would start
    # the service at boot beside the socket: drop it. (disable also disables what Also= names,
    # the socket: it is enabled right after.)
    systemctl --no-reload disable aops-agent.service >/dev/null 2>&1 || :
    systemctl --no-reload enable aops-agent.socket >/dev/null 2>&1 || :
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null 2>&1 || :
        # The old process still holds agent.conf's port: stop it, then the socket takes the port
        # and starts the new agent on the first connection.
        systemctl stop aops-agent.service >/dev/null 2>&1 || :
        systemctl start aops-agent.socket >/dev/null 2>&1 || :
    fi
    rm -f "$state"
    rmdir /var/lib/rpm-state/aops-agent 2>/dev/null || :
fi

# The token is a credential: the previous agent wrote it with the default umask (0644).
if [ -f "$token" ] && [ -n "$(find "$token" -maxdepth 0 -perm /077 2>/dev/null)" ]; then
    chmod 0600 "$token" && echo "aops-agent: $token was readable by other users: mode now 0600"
fi
exit 0
