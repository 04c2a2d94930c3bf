#!/bin/sh
# GET /: counts the visit in the counter service, found by name on the project's network.
hits=$(wget -q -O - "http://${COUNTER_HOST:-counter}:6379/cgi-bin/incr")
printf 'Content-Type: text/plain\r\n\r\n'
echo "Hello from berth! I have been seen ${hits} times."
