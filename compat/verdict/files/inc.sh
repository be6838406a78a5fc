#!/bin/sh
echo hello
vrrp_instance X {
