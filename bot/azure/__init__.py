"""The ARM adapter: the Istio add-on as azure-mgmt-containerservice shows it. The only
package that imports azure-*; imports bot.upgrade and bot.config.
"""
